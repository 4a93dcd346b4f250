"""Security core of Schedule 1: the security log, owner credentials and TLS.

Each module is usable on its own (no web wiring here): :mod:`.seclog` is the
tamper-evident security log, :mod:`.credentials` the owner account with no
default password, :mod:`.tls` the per-device certificate of the local web page.
"""
