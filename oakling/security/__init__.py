"""oakling.security: allowed hosts, HTTPS and security headers (Django's defaults).

Its middleware stays the outermost, whatever is added after it::

    from oakling import App
    from oakling.security import CSP, Security

    app = App(
        plugins=[
            Security(
                csp={"default-src": [CSP.SELF], "script-src": [CSP.SELF, CSP.NONCE]},
            )
        ]
    )

Every request's ``Host`` is checked against ``ALLOWED_HOSTS`` (400 and the
app never runs when it fails); responses get ``X-Frame-Options: DENY``,
``X-Content-Type-Options: nosniff``, ``Referrer-Policy: same-origin`` and
``Cross-Origin-Opener-Policy: same-origin``; HSTS, the HTTPS redirect and
Content-Security-Policy come from settings (``SECURE_HSTS_SECONDS``,
``SECURE_SSL_REDIRECT``, ``SECURE_CSP``). ``oakling check --deploy`` reports
what a production deployment still lacks. See ``docs/security.md``.
"""

from __future__ import annotations

from .checks import security_deploy_checks
from .config import DEBUG_ALLOWED_HOSTS, SecurityConfig
from .csp import CSP, CompiledPolicy, compile_policy
from .middleware import SecurityMiddleware
from .plugin import Security, csp_nonce, frame_options_exempt

__all__ = [
    "CSP",
    "DEBUG_ALLOWED_HOSTS",
    "CompiledPolicy",
    "Security",
    "SecurityConfig",
    "SecurityMiddleware",
    "compile_policy",
    "csp_nonce",
    "frame_options_exempt",
    "security_deploy_checks",
]
