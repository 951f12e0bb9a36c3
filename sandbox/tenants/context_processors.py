def tenant(request) -> dict:
    access = getattr(request, "tenant_access", None)
    return {"access": access, "current_tenant": access.tenant if access else None}
