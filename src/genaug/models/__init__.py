"""Model builders: diffusion generators, classifiers, CLIP, evaluator."""
