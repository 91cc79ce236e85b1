"""Encryption at rest (``--encryption-provider-config``, upstream's EncryptionConfiguration v1).

:mod:`.config` reads the file and resolves each ``resources`` entry to store prefixes;
:mod:`.providers` holds the value transformers (``aesgcm``, ``aescbc``, ``secretbox``, ``identity``);
:mod:`.storage` wraps the store so values under those prefixes are encrypted on every write and
decrypted on every read, get, list and watch event - nothing above the store ever sees ciphertext,
nothing below it ever sees plaintext of an encrypted resource.

Stored form, as upstream: ``k8s:enc:<provider>:v1:<key name>:`` followed by the provider's bytes, the
store key as authenticated data where the provider has it. The first provider of a resource encrypts;
every provider is tried to read (the one whose prefix and key name match), so keys rotate by putting a
new key first and rewriting every object (``kubectl get secrets -A -o json | kubectl replace -f -``).
"""
