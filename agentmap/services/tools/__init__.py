"""Tools: typed Python functions offered to a model (``llm`` nodes) or called by a ``tool`` node.

``core`` marks and describes them (``@agentmap.tool``, JSON schema from type
hints); ``loading`` finds a node's tools from its ``Tool_Source`` and
``Available_Tools`` columns; ``calling`` runs the calls a model asks for.
"""
