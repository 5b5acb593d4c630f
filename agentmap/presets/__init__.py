"""The environment presets shipped with AgentMap (``base.yaml`` and one file per environment).

A package only so that ``importlib.resources.files("agentmap.presets")`` finds the
YAML files wherever AgentMap is installed; it holds no code. A user's own
``./config/base.yaml`` or ``AGENTMAP_CONFIG_DIR`` replaces these as a whole
(see docs/configuration.md).
"""
