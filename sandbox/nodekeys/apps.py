from django.apps import AppConfig


class NodeKeysConfig(AppConfig):
    name = "sandbox.nodekeys"
    label = "nodekeys"
    verbose_name = "Node signing keys"

    def ready(self) -> None:
        # A new node gets its signing key in node_create's transaction; production needs its
        # own keyring for the sealed private keys (deploy check nodekeys.E001).
        from django.core.checks import Tags, register

        from sandbox.nodekeys.checks import check_master_key
        from sandbox.nodekeys.services import node_key_create
        from sandbox.tenants.services import on_node_created

        on_node_created(node_key_create)
        register(check_master_key, Tags.security, deploy=True)
