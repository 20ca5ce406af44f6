"""The GHNeRF network as plain torch modules: feature pyramid, plane-sweep cost volumes, 3D CNNs, depth-guided
sampling, view pooling, field heads and compositing (``network.GHNeRFNetwork`` ties them together).

Kept free of re-exports so importing one submodule (e.g. the human encoders) does not import the others.
"""
