"""Held-out wording for the fidelity sets: lay terms, normal findings stated two ways, device
positions and misspellings, written from clinical meaning and kept apart from the rules.

The scorers never import this module. Its lay terms are split dev/test by a hash of the lay
phrase (`split_of`, as the ontology cases are split by HPO id), and the package's own lexicon
(`scorers/medical/lexicon.py`) may hold dev entries only: `tests/scorers/test_generalisation.py`
checks that no test entry is in it. So the test lay terms measure how the scorer copes with lay
language nobody wrote a rule for (HPO's layperson synonyms, or nothing), and the dev ones what
the curated lexicon adds.

Sources: each pair is a general clinical equivalence, as a radiology or general medical
textbook states it (the lay phrase is how patients and general-audience health pages name the
finding); none is taken from a test case.
"""

from __future__ import annotations

# (lay phrase, the finding it names in clinical words)
LAY_TERMS: tuple[tuple[str, str], ...] = (
    ("water on the knee", "knee joint effusion"),
    ("fluid on the knee", "knee joint effusion"),
    ("brain bleed", "intracranial hemorrhage"),
    ("bleeding in the brain", "intracranial hemorrhage"),
    ("bleed on the brain", "intracranial hemorrhage"),
    ("broken bone", "bone fracture"),
    ("broken rib", "rib fracture"),
    ("cracked rib", "rib fracture"),
    ("broken hip", "hip fracture"),
    ("broken wrist", "wrist fracture"),
    ("broken collarbone", "clavicle fracture"),
    ("broken ankle", "ankle fracture"),
    ("broken leg", "leg fracture"),
    ("broken nose", "nasal bone fracture"),
    ("broken skull", "skull fracture"),
    ("slipped disc", "intervertebral disc herniation"),
    ("herniated disc", "intervertebral disc herniation"),
    ("blood clot in the lung", "pulmonary embolism"),
    ("clot in the lung", "pulmonary embolism"),
    ("blood clot in the leg", "deep venous thrombosis"),
    ("clot in the leg vein", "deep venous thrombosis"),
    ("free air under the diaphragm", "pneumoperitoneum"),
    ("air in the belly", "pneumoperitoneum"),
    ("enlarged spleen", "splenomegaly"),
    ("big spleen", "splenomegaly"),
    ("fluid around the heart", "pericardial effusion"),
    ("water around the heart", "pericardial effusion"),
    ("fluid in the belly", "ascites"),
    ("fluid in the abdomen", "ascites"),
    ("hardening of the arteries", "arteriosclerosis"),
    ("brain shrinkage", "cerebral atrophy"),
    ("shrinking of the brain", "cerebral atrophy"),
    ("water on the brain", "hydrocephalus"),
    ("fluid on the brain", "hydrocephalus"),
    ("curved spine", "scoliosis"),
    ("sideways curve of the spine", "scoliosis"),
    ("thinning of the bones", "osteoporosis"),
    ("brittle bones", "osteoporosis"),
    ("bone thinning", "osteopenia"),
    ("mini stroke", "transient ischemic attack"),
    ("heart failure", "congestive heart failure"),
    ("weak heart muscle", "cardiomyopathy"),
    ("bulge in the aorta", "aortic aneurysm"),
    ("ballooning of the aorta", "aortic aneurysm"),
    ("blocked bowel", "bowel obstruction"),
    ("twisted bowel", "volvulus"),
    ("hole in the bowel", "bowel perforation"),
    ("burst appendix", "perforated appendicitis"),
    ("gallbladder stones", "cholelithiasis"),
    ("kidney swelling", "hydronephrosis"),
    ("swollen kidney", "hydronephrosis"),
    ("fatty liver", "hepatic steatosis"),
    ("scarring of the liver", "cirrhosis"),
    ("scarring of the lungs", "pulmonary fibrosis"),
    ("lung scarring", "pulmonary fibrosis"),
    ("fluid in the lungs", "pulmonary edema"),
    ("lung infection", "pneumonia"),
    ("chest infection", "pneumonia"),
    ("dropped lung", "pneumothorax"),
    ("air leak around the lung", "pneumothorax"),
    ("swollen lymph nodes", "lymphadenopathy"),
    ("enlarged lymph nodes", "lymphadenopathy"),
    ("thyroid swelling", "goiter"),
    ("enlarged thyroid", "goiter"),
    ("clogged coronary artery", "coronary artery stenosis"),
    ("narrowed spinal canal", "spinal canal stenosis"),
    ("pinched nerve in the neck", "cervical radiculopathy"),
)

# Normal findings said two ways: (the absence of an abnormal finding, a statement of normality).
NORMAL_PAIRS: tuple[tuple[str, str], ...] = (
    ("no cardiomegaly", "heart size is normal"),
    ("no cardiomegaly", "normal heart size"),
    ("no cardiomegaly", "the heart is not enlarged"),
    ("no cardiomegaly", "cardiac size within normal limits"),
    ("no pleural effusion", "costophrenic angles are clear"),
    ("no pleural effusion", "sharp costophrenic angles"),
    ("no hydronephrosis", "no dilatation of the collecting system"),
    ("no mediastinal widening", "mediastinum is not widened"),
    ("no hepatomegaly", "liver size is normal"),
    ("no splenomegaly", "normal spleen size"),
    ("no ventriculomegaly", "ventricles are normal in size"),
)
# Statements that sound alike but are not equivalent: a clear lung field rules out more than one
# finding, and no single absent finding makes the lungs clear.
NORMAL_NON_PAIRS: tuple[tuple[str, str], ...] = (
    ("lungs are clear", "no pneumothorax"),
    ("no pneumothorax", "lungs are clear"),
    ("heart size is normal", "no pleural effusion"),
    ("no cardiomegaly", "normal lung volumes"),
    ("costophrenic angles are clear", "no pneumothorax"),
)

# Devices and where they sit: "in good position" against a misplaced tip is a conflict.
DEVICES: tuple[str, ...] = (
    "endotracheal tube",
    "ET tube",
    "nasogastric tube",
    "feeding tube",
    "central venous catheter",
    "PICC line",
    "chest tube",
    "tracheostomy tube",
)
GOOD_POSITION: tuple[str, ...] = (
    "{} in good position",
    "{} in satisfactory position",
    "{} is appropriately positioned",
    "{} in standard position",
    "{} is well positioned",
    "{} in expected position",
)
BAD_POSITION: tuple[str, ...] = (
    "{} is malpositioned",
    "{} in the right main bronchus",
    "{} tip in the right mainstem bronchus",
    "{} is misplaced",
    "{} tip is too low",
    "{} tip is too high",
    "{} coiled in the esophagus",
    "{} in a suboptimal position",
)
