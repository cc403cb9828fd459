"""The key and certificate store: an NSS database, raw RSA/ECDSA keys, CKAIDs."""
