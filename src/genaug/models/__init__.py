"""Model builders: diffusion generator, CLIP, classifiers, evaluator; device helpers."""
