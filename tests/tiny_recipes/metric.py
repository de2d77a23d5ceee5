# Embedding task (triplet semi-hard on P x K batches of synthetic identities: shape x colour; two
# colours keep several images per identity in 64 training images). batch 16 = 4 identities x 4.
RECIPE = {"task": "metric",
          "model": {"head": {"embedding_size": 16, "images_per_identity": 4, "knn_references": 64,
                             "verification_pairs": 200}},
          "data": {"params": {"colors": 2}}}
