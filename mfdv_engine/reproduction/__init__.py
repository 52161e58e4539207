"""The paper's experiments reproduced: definitions and reuse (``experiments``), the
robustness and timing tables (``tables``), the λ1 study (``lambda1``) and the
report plots (``plots``). ``mfdv_engine.api.reproduce`` is the door; nothing is
re-exported here, so the API's ``reproduce`` function is never shadowed by a module."""
