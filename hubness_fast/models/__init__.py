"""Small models bundled with the package (trained on scikit-learn's digits); see digits.py."""
from .digits import LATENT_DIM, load_classifier, load_digits_images, load_generator

__all__ = ["LATENT_DIM", "load_generator", "load_classifier", "load_digits_images"]
