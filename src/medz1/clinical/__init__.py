"""Clinical data: Arrow types of the clinical tables and the synthetic data generator.

``arrow_types`` maps medz1's SQLAlchemy columns to the Arrow types a binary COPY into
PostgreSQL needs; ``synthetic`` generates realistic, deterministic demo patients as Arrow
tables matching those types, and writes them as Parquet.
"""
