"""The stack's certificate manager: the `certs` service of compose.yml, beside the proxy.

It puts the certificate HAProxy serves in the shared volume (`/tls/site.pem`), and keeps it there:
- ACME (`TLS_DOMAINS` set): from Let's Encrypt or any ACME directory, renewed before expiry;
- from files (`TLS_CERT_FILE` and `TLS_KEY_FILE`, Compose secrets);
- neither: a self-signed certificate for `localhost`.
A new certificate goes into the running HAProxy through its runtime API: no reload, no dropped
connection. Run as `python -m certs`.
"""
