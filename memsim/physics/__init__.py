"""Physics: device models, update rules, the pulse law, periphery and presets (pure Python, written once)."""
