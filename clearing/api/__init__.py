"""The clearing API, one module per area: closed days and proofs (``days``), test clock
closes (``clock_closes``), jobs (``jobs``), operators' runs (``operator``), anchored
records (``records``) and settlement (``settlement``). Routes: ``clearing.api_urls``."""
