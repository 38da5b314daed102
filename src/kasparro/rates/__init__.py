"""The reference rate: one auditable USD price per asset and bucket (``docs/reference-rate.md``).

``method`` (the numbers, versioned) and ``compute`` (inputs -> value) are pure; ``repository``
holds the SQL, ``service`` reads the quotes, computes and stores, ``api`` serves it.
"""
