"""Integration workload: PyNaCl (cffi -> libsodium, Debian's python3-nacl) hashing and a secret box."""
import nacl.hash
import nacl.secret
import nacl.utils

print(nacl.hash.sha256(b"layertrace")[:16])
box = nacl.secret.SecretBox(nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE))
assert box.decrypt(box.encrypt(b"hello")) == b"hello"
