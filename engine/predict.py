"""Load a model folder once; predict trials with attention maps and exact leave-one-out ablations.

The CLI and the GUI both go through `Predictor`: it resolves drugs and conditions (lookups), featurizes
(cached encoder states), picks the phase adapter, and returns `Prediction` objects.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from engine.errors import CHOOSE_PHASE, Advice, CladmopError, ModelError
from engine.evidence.novelty import is_vacuous
from engine.features.types import MOL_SEGMENT, TrialFeatures
from engine.model.checkpoint import ModelManifest, load_base
from engine.paths import resources_dir
from engine.prediction import LEVELS, Ablation, LevelAttention, Prediction
from engine.records.errors import RecordError
from engine.records.trial import Criterion, Trial
from engine.tasks import TaskState

#: criteria items the model reads of one record, in record order; the rest are left out and the
#: Prediction says so (`Prediction.notice`). Real records hold at most 91 (corpora of 7,509 trials);
#: the cap bounds the cost of a record of thousands of items (attention, one ablation per item).
MAX_MODEL_CRITERIA = 128
_PHASE_FALLBACK = {"IV": "III"}  # no phase IV model: a phase IV record is scored as phase III
#: the phase model for a batch: one for all, a function of the trial, one per trial, or None (each
#: record's own phase)
PhaseChoice = str | Callable[[Trial], str | None] | Sequence[str | None] | None


def default_model_dir() -> Path:
    return resources_dir() / "models" / "default"


class Predictor:
    def __init__(self, folder: Path, manifest: ModelManifest, models, featurizer, resolver, device,
                 evidence=None, ensemble=None):
        self.folder, self.manifest = Path(folder), manifest
        self.models = models  # every phase's merged weights over one network (engine/model/adapters.py)
        self.featurizer, self.resolver, self.device = featurizer, resolver, device
        self.evidence = evidence  # an EvidenceReader over the model's learning index, or None
        self.ensemble = ensemble  # engine.model.ensemble.Ensemble, or None: CLaDMoP alone is served
        self._lock = threading.Lock()  # one forward at a time (the GUI's threads share the models)
        from engine.model.branch_cache import DrugDiseaseTokens

        self._drug_disease = DrugDiseaseTokens()  # kept for what-ifs and ablation variants

    # -- loading ------------------------------------------------------------------------------------
    @classmethod
    def load(cls, model_dir: Path | str | None = None, device: str = "auto", backbone: str | None = None,
             resolver=None, cache=None) -> "Predictor":
        """`backbone` overrides the model's own (e.g. "biogpt:/path"); it must have the same width."""
        from engine.device import resolve_device
        from engine.features.featurizer import Featurizer
        from engine.features.icd import IcdTable
        from engine.model.adapters import PhaseWeights
        from engine.model.checkpoint import ADAPTERS
        from engine.model_store import open_backbone

        from engine import distributed

        folder = Path(model_dir) if model_dir else default_model_dir()
        manifest = ModelManifest.read(folder)
        manifest.verify(folder)  # every file, adapters included, before anything is deserialised
        if not manifest.phases:
            raise ModelError(f"{folder}: the model has no fine-tuned phase adapter; run `cladmop finetune`")
        dev = resolve_device(device)
        distributed.start(dev)
        base, _ = load_base(folder, verify=False)
        models = PhaseWeights(base, {phase: folder / ADAPTERS / phase for phase in manifest.phases}).to(dev)
        encoder = open_backbone(backbone or manifest.config.backbone, device=dev)
        if encoder.hidden_size != manifest.config.text_dim:
            raise ModelError(f"{folder}: the model reads {manifest.config.text_dim}-wide language-model states "
                             f"but backbone '{backbone or manifest.config.backbone}' gives {encoder.hidden_size}")
        featurizer = Featurizer(encoder, IcdTable.load(), granularity=manifest.config.granularity, cache=cache)
        if resolver is None:
            from engine.lookups.resolve import Resolver

            resolver = Resolver.default()
        evidence = _evidence(folder, encoder)
        return cls(folder, manifest, models, featurizer, resolver, dev, evidence, _ensemble(folder, evidence))

    # -- facts --------------------------------------------------------------------------------------
    @property
    def phases(self) -> list[str]:
        return sorted(self.manifest.phases)

    @property
    def model_name(self) -> str:
        return f"{self.manifest.name} ({self.manifest.config.backbone}, {self.manifest.config.granularity})"

    @property
    def device_name(self) -> str:
        if self.device.type == "cuda":
            import torch

            return f"CUDA: {torch.cuda.get_device_name(self.device)}"
        return "CPU"

    def base_rate(self, phase: str) -> float:
        return self.manifest.phases[phase].base_rate

    def choose_phase(self, trial: Trial, phase: str | None = None) -> tuple[str, list[str]]:
        """The phase model to use and the warnings that explain the choice.

        A mixed record ("Phase 1/Phase 2") is scored with the later phase's model, whose outcome decides
        the trial; `phase=` overrides."""
        notes: list[str] = []
        if phase:
            phase = phase.upper()
        elif not trial.phases:
            raise CladmopError(f"{trial.nct_id or trial.source_path}: the record states no phase (the model has "
                               f"phases {', '.join(self.phases)})", action=CHOOSE_PHASE)
        else:
            phase = trial.phases[-1]
            if len(trial.phases) > 1:
                notes.append(Advice(f"mixed-phase record ({trial.phase_label}): scored with the phase {phase} "
                                    f"model", CHOOSE_PHASE))
        if phase not in self.manifest.phases and phase in _PHASE_FALLBACK:
            notes.append(f"no phase {phase} model: scored with the phase {_PHASE_FALLBACK[phase]} model")
            phase = _PHASE_FALLBACK[phase]
        if phase not in self.manifest.phases:
            raise CladmopError(f"no phase {phase} model in {self.folder} (it has: {', '.join(self.phases)})")
        return phase, notes

    # -- prediction ---------------------------------------------------------------------------------
    def prepare(self, trial: Trial) -> Trial:
        """Resolve drugs and conditions (user choices are kept)."""
        return self.resolver.resolve(trial)

    def predict(self, trial: Trial, phase: str | None = None, ablate: bool = True,
                state: TaskState | None = None, chunk_size: int = 64) -> Prediction:
        """`ablate=False` gives the probability and attention only (one forward): the GUI shows that at
        once and asks for the ablation after. `chunk_size` trials go through the model at a time, and
        `state` may cancel between chunks (a smaller chunk lets a stale ablation stop sooner)."""
        state = state or TaskState()
        plan = self._plan(trial, phase)
        state.progress(0, 2, "encoding criteria")
        prediction = self._predict_plans([plan], ablate, state, chunk_size)[0]
        state.progress(2, 2, "done")
        return prediction

    def predict_many(self, trials: Sequence[Trial], phase: PhaseChoice = None, ablate: bool = False,
                     state: TaskState | None = None, batch_size: int = 32) -> list[Prediction | Exception]:
        """Score many trials, `batch_size` at a time through the encoder and the models; a trial that cannot
        be scored yields its error in place, the rest go on. `phase`: one for all, a function of the trial,
        one per trial, or None (each record's own). Memory is bounded by `batch_size`, whatever the number
        of trials. Under a launcher (engine/distributed.py) each process scores its share and every process
        gets all predictions, in order."""
        from engine import distributed

        phases = phases_of(trials, phase)
        if not distributed.workers().parallel:
            return self._predict_batches(trials, phases, ablate, state or TaskState(), batch_size)
        return distributed.map_in_order(lambda rows: [_portable(r) for r in self._predict_batches(
            [trials[i] for i in rows], [phases[i] for i in rows], ablate, state or TaskState(), batch_size)],
            range(len(trials)))

    def _predict_batches(self, trials: Sequence[Trial], phases: list[str | None], ablate: bool, state: TaskState,
                         batch_size: int) -> list[Prediction | Exception]:
        results: list[Prediction | Exception] = []
        for start in range(0, len(trials), batch_size):
            state.check()
            state.progress(start, len(trials), f"scoring {start + 1}–{min(start + batch_size, len(trials))}")
            results += self._predict_chunk(trials[start:start + batch_size], phases[start:start + batch_size], ablate)
        state.progress(len(trials), len(trials), "done")
        return results

    def _predict_chunk(self, trials: Sequence[Trial], phases: Sequence[str | None],
                       ablate: bool) -> list[Prediction | Exception]:
        """One result per trial: its prediction, or the user's error that stops it (the others go on)."""
        results: list = []
        plans, slots = [], []
        for trial, chosen in zip(trials, phases):
            try:
                plans.append(self._plan(trial, chosen))
                slots.append(len(results))
            except (CladmopError, RecordError) as e:
                results.append(e)
                continue
            results.append(None)
        try:
            predictions = self._predict_plans(plans, ablate, None, 64) if plans else []
        except (CladmopError, RecordError) as e:  # e.g. a damaged phase model: every trial says so
            predictions = [e] * len(plans)
        for slot, prediction in zip(slots, predictions):
            results[slot] = prediction
        return results

    def use_own_trials(self, trials: Sequence[Trial]) -> int:
        """The analyst's labelled trials (`label` 1/0) join the search for similar past trials; novelty and
        the outcome history stay those of the model's learning data. Returns how many joined."""
        if self.evidence is None:
            raise CladmopError(f"{self.folder}: this model has no learning index, so it finds no similar "
                               f"past trials; add one with `cladmop index`")
        labelled = [self.prepare(t) for t in trials if t.label in (0, 1)]
        self.evidence.use_own_trials(labelled, self._embeddings(labelled) if labelled else None)
        return len(labelled)

    # -- the batched core ---------------------------------------------------------------------------
    def _plan(self, trial: Trial, phase: str | None) -> "_Plan":
        """What one prediction needs before any encoder runs; the user's errors are raised here."""
        from engine.records.scorable import require_drug_trial

        require_drug_trial(trial)
        phase, notes = self.choose_phase(trial, phase)
        resolved = self.prepare(trial)
        read, notice = limit_criteria(resolved)
        return _Plan(read, phase, notes, trial_hash=resolved.content_hash(),
                     criteria_total=len(resolved.active_criteria), notice=notice)

    def _predict_plans(self, plans: list["_Plan"], ablate: bool, state: TaskState | None,
                       chunk_size: int) -> list[Prediction]:
        """One Prediction per plan: every trial and its ablation variants featurized together, then each
        phase's rows through that phase's model in chunks."""
        variants = [ablation_variants(plan.trial) if ablate else [] for plan in plans]
        scored = [plan.trial for plan in plans] + [v for vs in variants for _, v in vs]
        owner = list(range(len(plans))) + [i for i, vs in enumerate(variants) for _ in vs]
        feats = self.featurizer.featurize_many(scored, state=None)
        if state is not None:
            state.progress(1, 2, "running the model")
        upto = len(scored) if self.ensemble is not None else len(plans)
        embeddings = self._embeddings(scored[:upto], feats[:upto])
        probs, members = np.zeros(len(scored)), [{} for _ in plans]
        kept: dict[int, tuple] = {}  # plan index -> (its batch, the model output, its row in the batch)
        for phase in dict.fromkeys(plan.phase for plan in plans):
            rows = [k for k, i in enumerate(owner) if plans[i].phase == phase]  # the plans' own rows first
            mains = sum(k < len(plans) for k in rows)
            logits, outputs = self._forward([feats[k] for k in rows], phase, keep_attention=mains,
                                            batch_size=chunk_size, state=state)
            served, row_members = self._serve(logits, [scored[k] for k in rows],
                                              embeddings[rows] if self.ensemble is not None else None, phase)
            probs[rows] = served
            for j, k in enumerate(rows[:mains]):  # the plans' own rows: members and attention outputs kept
                members[k] = row_members[j]
                batch, out = outputs[j // chunk_size]
                kept[k] = (batch, out, j % chunk_size)
        first = np.cumsum([len(plans)] + [len(vs) for vs in variants])  # plan i's variants: first[i]...
        return [self._finish(plan, feats[i], float(probs[i]), variants[i], probs[first[i]:first[i + 1]], kept[i],
                             members[i], None if embeddings is None else embeddings[i])
                for i, plan in enumerate(plans)]

    def _finish(self, plan: "_Plan", feats: TrialFeatures, own: float, variants, variant_probs, output, members,
                embedding) -> Prediction:
        pred = self._assemble(plan.trial, feats, plan.phase, own, output, plan.notes)
        pred.members = members
        if self.ensemble is not None and (span := self.ensemble.interval_for(own, members, plan.phase)):
            pred.interval, pred.interval_level = span, self.ensemble.interval["level"]
        pred.trial_hash = plan.trial_hash  # the record as given: its cached prediction is found again
        pred.notice = plan.notice
        pred.criteria_read, pred.criteria_total = len(plan.trial.active_criteria), plan.criteria_total
        pred.ablations = [Ablation(kind, k, label, float(p - own),
                                   content_free=kind == "criterion" and is_vacuous(label))
                          for ((kind, k, label), _), p in zip(variants, variant_probs)]
        if self.evidence is not None:  # similar past trials and novelty of the criteria the model read
            pred.similar, pred.novelty = self.evidence.read(plan.trial, embedding)
        return pred

    def _embeddings(self, trials: list[Trial], features=None) -> np.ndarray | None:
        """Whole-text embeddings of the index's kind (engine/features/document.py) when the evidence or the
        ensemble reads them; `features` of the trials spare the pooled kind any work."""
        if self.evidence is None:
            return None
        from engine.features.document import trial_embeddings

        return trial_embeddings(self.evidence.index.embedding, trials, self.featurizer, features)

    def _serve(self, logits: np.ndarray, trials: list[Trial], embeddings, phase: str):
        """The probabilities served for CLaDMoP's raw `logits` of `trials`: calibrated alone, or through the
        model's ensemble; and each trial's members' probabilities ({} without an ensemble)."""
        from engine.model.calibration import apply_calibration

        info = self.manifest.phases[phase]
        alone = apply_calibration(logits, info.temperature, info.bias)
        if self.ensemble is None:
            probs, members = alone, [{} for _ in trials]
        else:
            from engine.evidence.history import history_matrix

            history = history_matrix(self.evidence.drug_history, self.evidence.condition_history, trials)
            thresholds = None
            if self.ensemble.thresholds is not None:  # the criteria's numeric eligibility thresholds
                from engine.features.thresholds import threshold_matrix

                thresholds = threshold_matrix(trials)
            member_logits = self.ensemble.member_logits(logits, embeddings, history, thresholds)
            probs = self.ensemble.probabilities(member_logits, phase)
            sigmoid = 1 / (1 + np.exp(-member_logits))
            names = self.ensemble.members
            members = [{"cladmop": float(a), **{n: float(m[k]) for k, n in enumerate(names) if k}}
                       for a, m in zip(alone, sigmoid)]
        if not np.isfinite(probs).all():  # a damaged adapter or calibration; never show "nan" as a probability
            raise ModelError(f"{self.folder}: the phase {phase} model gives no finite probability "
                             f"(temperature {info.temperature}, bias {info.bias}); re-calibrate or re-train it")
        return probs, members

    def _forward(self, feats: list[TrialFeatures], phase: str, keep_attention: int = 0, batch_size: int = 64,
                 state: TaskState | None = None):
        """Raw logits of `feats` through the phase's model; the (batch, output) pairs of the chunks that
        hold the first `keep_attention` rows (their attention maps) are kept."""
        import torch

        from engine.device import autocast
        from engine.model.batch import collate
        from engine.model.branch_cache import row_keys
        from engine.model.cladmop import classify
        logits, outputs = [], []
        with self._lock, torch.inference_mode(), autocast(self.device):
            model = self.models.use(phase)
            for start in range(0, len(feats), batch_size):
                if state is not None:
                    state.check()
                batch = collate(feats[start:start + batch_size])
                keys = row_keys(batch)
                batch = batch.to(self.device)
                chunk, out = classify(model, batch, fixed=self._drug_disease.tokens(model, batch, keys, phase))
                logits.append(chunk.float().cpu().numpy().astype(np.float64))
                if start < keep_attention:
                    outputs.append((batch, out))
        return np.concatenate(logits), outputs

    def _assemble(self, trial, feats: TrialFeatures, phase, prob, output, notes) -> Prediction:
        batch, out, row = output
        n_m, n_d, n_c = len(feats.mol_kind), len(feats.icd_kind), len(feats.crit_item)
        width_m, width_d = out.sizes[0], out.sizes[1]
        n_items = len(trial.active_criteria)
        levels = []
        for name, w in zip(LEVELS, out.token_weights):
            w = w[row].float().cpu().numpy()
            crit_tokens = w[width_m + width_d: width_m + width_d + n_c]
            per_item = np.zeros(n_items)
            items = np.asarray(feats.crit_item[:len(crit_tokens)])
            valid = items >= 0
            np.add.at(per_item, items[valid], crit_tokens[valid])
            levels.append(LevelAttention(level=name, criteria=per_item, molecules=w[:n_m],
                                         diseases=w[width_m:width_m + n_d],
                                         previous=float(w[width_m + width_d + out.sizes[2]:].sum())))
        return Prediction(
            nct_id=trial.nct_id, trial_hash=trial.content_hash(), phase=phase, probability=prob,
            base_rate=self.base_rate(phase), model_name=self.model_name, attention=levels,
            molecule_tokens=list(feats.mol_segments), molecule_labels=molecule_labels(trial, feats),
            disease_labels=list(feats.icd_codes), criteria_labels=[c.text for c in trial.active_criteria],
            warnings=notes + list(trial.warnings) + list(feats.warnings), unresolved=list(trial.unresolved))


@dataclass
class _Plan:
    """One trial ready for the model: lookups resolved, criteria limited, phase chosen."""

    trial: Trial  # as the model reads it
    phase: str
    notes: list[str]
    trial_hash: str  # of the record as given
    criteria_total: int
    notice: str = ""


def _evidence(folder: Path, encoder):
    """The model's learning index when it was embedded by this predictor's language model, else None
    (an index of another backbone's embeddings would find neighbours by noise)."""
    from engine.evidence.reader import EvidenceReader

    reader = EvidenceReader.load(folder)
    if reader is None or reader.index.backbone != encoder.backbone_id:
        return None
    return reader


def _ensemble(folder: Path, evidence):
    """The folder's ensemble (engine/model/ensemble.py), which reads the learning index's history."""
    from engine.model.ensemble import Ensemble

    ensemble = Ensemble.load(folder)
    if ensemble is not None and evidence is None:
        raise ModelError(f"{folder}: the model combines CLaDMoP with the outcome history, which needs its "
                         f"learning index (evidence/), missing or of another language model")
    if ensemble is not None and ensemble.embedding != evidence.index.embedding:
        raise ModelError(f"{folder}: the combined model reads '{ensemble.embedding}' embeddings but the learning "
                         f"index holds '{evidence.index.embedding}' ones; rebuild the index (`cladmop index`)")
    return ensemble


def _portable(result: Prediction | Exception) -> Prediction | Exception:
    """A result that crosses processes intact: errors as plain CladmopError with their message (their own
    classes may not rebuild from pickled arguments)."""
    return CladmopError(str(result) or type(result).__name__) if isinstance(result, Exception) else result


def phases_of(trials: Sequence[Trial], phase: PhaseChoice) -> list[str | None]:
    """One phase choice per trial from `phase`: one for all, a function of the trial, or one per trial."""
    if phase is None or isinstance(phase, str):
        return [phase] * len(trials)
    if callable(phase):
        return [phase(t) for t in trials]
    if len(phase) != len(trials):
        raise ValueError(f"{len(trials)} trials but {len(phase)} phase choices")
    return list(phase)


def limit_criteria(trial: Trial, limit: int = MAX_MODEL_CRITERIA) -> tuple[Trial, str]:
    """`trial` with at most `limit` active criteria items (the later ones disabled, so indices into
    `active_criteria` still match the record), and the notice for the user ("" when nothing was cut)."""
    active = [i for i, c in enumerate(trial.criteria) if c.enabled and c.text.strip()]
    if len(active) <= limit:
        return trial, ""
    cut = trial.replace()
    for i in active[limit:]:
        cut.criteria[i].enabled = False
    return cut, (f"the model read the first {limit:,} of the record's {len(active):,} criteria items "
                 f"(its limit); the last {len(active) - limit:,} were left out of this prediction")


#: what stands in for a trial's only criterion when it is left out: the model never learned from a trial
#: without criteria, so "no criteria at all" is no baseline (one record's "Please contact site for
#: information" moved by -0.54 against it); a content-free item most learning trials hold stays in the
#: distribution the model knows.
NEUTRAL_CRITERION = Criterion("Signed informed consent.", "inclusion")


def ablation_variants(trial: Trial) -> list[tuple[tuple[str, int, str], Trial]]:
    """Every one-item-removed copy of `trial`: each active criterion, each drug, each condition. The
    removal of the only criterion puts NEUTRAL_CRITERION in its place."""
    variants = []
    active = [i for i, c in enumerate(trial.criteria) if c.enabled and c.text.strip()]
    for k, i in enumerate(active):
        v = trial.replace()
        v.criteria[i].enabled = False
        if len(active) == 1:
            v.criteria.append(Criterion(NEUTRAL_CRITERION.text, NEUTRAL_CRITERION.kind))
        variants.append((("criterion", k, trial.criteria[i].text), v))
    for j, drug in enumerate(trial.drugs):
        v = trial.replace()
        del v.drugs[j]
        variants.append((("drug", j, drug.name), v))
    for j, cond in enumerate(trial.conditions):
        v = trial.replace()
        del v.conditions[j]
        variants.append((("disease", j, cond.name), v))
    return variants


def molecule_labels(trial: Trial, feats: TrialFeatures) -> list[str]:
    labels = []
    for kind, pos, seg in zip(feats.mol_kind, feats.mol_position, feats.mol_segments):
        name = trial.drugs[pos].name if 0 <= pos < len(trial.drugs) else "(no drug)"
        if kind == MOL_SEGMENT and seg is not None:
            labels.append(f"{name}: {seg.smiles}")
        else:
            labels.append(name if trial.drugs else "(no drug)")
    return labels
