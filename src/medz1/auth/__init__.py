"""The authentication store of medz1.

`medz1.auth.passwords` hashes passwords with argon2id and verifies argon2 and legacy bcrypt
hashes; `medz1.auth.policy` decides whether a new password is acceptable. Nothing in this
package logs a password or puts one into an exception message.
"""
