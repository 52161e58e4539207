"""Models from outside: evaluate any nn.Module (byom, foreign, inputs), import a model file with its
weights (modelfile, weights, trust), and rebuild a run's model from a project (loading)."""
