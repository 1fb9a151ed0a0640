"""AI features over the ``ai`` schema: chart embeddings with filtered vector search, chart
summaries that know when they are stale, and drug-interaction lookups.

Modules: :mod:`~medz1.ai.embedder` (the embedder protocol, the offline default and the
optional real-model plug-ins), :mod:`~medz1.ai.chart_text` (chart rows as text chunks),
:mod:`~medz1.ai.embeddings` (bulk replace and k-NN search), :mod:`~medz1.ai.summaries`,
:mod:`~medz1.ai.interactions` and :mod:`~medz1.ai.demo` (what ``up --demo`` prepares).
Nothing here reads the environment or connects at import.
"""
