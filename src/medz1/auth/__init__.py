"""The authentication store of medz1.

- `medz1.auth.passwords` hashes passwords with argon2id and verifies argon2 and legacy
  bcrypt hashes; `medz1.auth.password_rules` decides whether a new password is acceptable.
- `medz1.auth.users` creates and administers users; `medz1.auth.login` logs them in with
  a race-free lockout; `medz1.auth.sessions` issues, validates and ends sessions whose
  tokens are stored only as SHA-256.
- `medz1.auth.audit` writes audit rows in the caller's transaction, verifies the hash chain
  the database computes, and purges rows past retention.
- `medz1.auth.patient_access` reads a patient's data as a user and writes its
  `patient_view` audit row in the same transaction: the service and Python callers share it.
- `medz1.auth.config` builds the rules and the hasher from settings; `medz1.auth.demo`
  creates demo clinicians.

Query functions take a SQLAlchemy session first and never commit. Nothing in this package
logs a password or a token or puts one into an exception message.
"""
