"""The course of the vocabulary tests and benchmark: its term file, six terms and a passage that says them."""

from __future__ import annotations

from pathlib import Path

COURSE = Path(__file__).parent / "data" / "course_vocab.txt"
SIX = ("Laplacian", "Heaviside", "Kullback-Leibler divergence", "Lipschitz constant", "Mahalanobis distance",
       "Cholesky factorization")
PASSAGE = ("In today's lecture we apply the Laplacian operator to a Heaviside step function. "
           "Then we compare two distributions with the Kullback-Leibler divergence. "
           "Next we bound the gradient with a Lipschitz constant, measure outliers with the Mahalanobis "
           "distance, and solve the linear system with a Cholesky factorization.")
