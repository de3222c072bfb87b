"""Network definitions and the engines that train and run them; no Kedro here.

Networks, rebuilt from parameters and saved as state_dicts: the diffusion generator
(closed-set UNet or a pretrained text-to-image pipeline), the CLIP of the filter, the
classifiers, and the FID/IS feature extractors (InceptionV3 or the evaluator network).

Engines, called by the thin pipeline nodes with typed configs or plain values: classifier
training and prediction, CLIP training and scoring (and the filter's selection from the
scores), diffusion training and sampling.
"""
