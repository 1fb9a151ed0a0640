"""Operations behind the commands: plain functions taking a target, an engine or settings."""
