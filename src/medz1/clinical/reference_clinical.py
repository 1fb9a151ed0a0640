"""Clinical reference data of the synthetic generator: vital signs, lab tests, drugs.

Lab tests carry real LOINC codes and common adult reference ranges; drugs are real generic
and trade names with VA drug classes. NDC codes are invented (labeler ``99999`` does not
exist) and so are the lab and drug source ids.
"""

from __future__ import annotations

from typing import NamedTuple


class VitalType(NamedTuple):
    """A kind of vital sign as VistA records it."""

    name: str
    abbr: str
    unit: str | None
    qualifiers: tuple[str | None, ...]  # JSON text choices; None is "no qualifier"


#: Vital types in the order one visit records them; HT only on some visits, BMI last.
VITAL_TYPES: tuple[VitalType, ...] = (
    VitalType("BLOOD PRESSURE", "BP", "mmHg", (
        '{"position": "SITTING", "site": "L ARM", "cuff_size": "ADULT"}',
        '{"position": "SITTING", "site": "R ARM", "cuff_size": "ADULT"}',
        '{"position": "SITTING", "site": "L ARM", "cuff_size": "LARGE ADULT"}',
        '{"position": "STANDING", "site": "R ARM", "cuff_size": "ADULT"}',
        '{"position": "LYING", "site": "L ARM", "cuff_size": "ADULT"}',
    )),
    VitalType("PULSE", "P", "/min", ('{"method": "PALPATED"}', '{"method": "AUSCULTATE"}',
                                     '{"method": "ELECTRONIC"}', None)),
    VitalType("TEMPERATURE", "T", "F", ('{"method": "ORAL"}', '{"method": "TYMPANIC"}',
                                        '{"method": "TEMPORAL"}', None)),
    VitalType("RESPIRATION", "R", "/min", ('{"method": "SPONTANEOUS"}', None)),
    VitalType("PULSE OXIMETRY", "POX", "%", ('{"supplemental_o2": "ROOM AIR"}',
                                             '{"supplemental_o2": "NASAL CANNULA", "flow_lpm": 2}',
                                             None)),
    VitalType("PAIN", "PN", None, (None,)),
    VitalType("WEIGHT", "WT", "lb", ('{"method": "ACTUAL"}', '{"method": "STATED"}', None)),
    VitalType("HEIGHT", "HT", "in", ('{"method": "ACTUAL"}', '{"method": "STATED"}')),
    VitalType("BMI", "BMI", "kg/m2", (None,)),
)  # fmt: skip

BP, PULSE, TEMP, RESP, POX, PAIN, WEIGHT, HEIGHT, BMI = range(len(VITAL_TYPES))

#: Blood pressure flags (mmHg): CRITICAL at or above, HIGH at or above, LOW below.
BP_CRITICAL = (180, 120)
BP_HIGH = (140, 90)
BP_LOW = (90, 60)


class VitalLimits(NamedTuple):
    """Flag limits of a single-valued vital, in its recorded unit; None is "no limit"."""

    critical_low: float | None
    low: float | None
    high: float | None
    critical_high: float | None


#: Limits of the single-valued vitals: value < low is LOW, > high is HIGH, beyond a
#: critical limit CRITICAL, otherwise NORMAL. Vitals without limits get no flag.
VITAL_LIMITS: dict[int, VitalLimits] = {
    PULSE: VitalLimits(40, 60, 100, 130),
    TEMP: VitalLimits(95.0, 97.0, 100.4, 103.0),
    RESP: VitalLimits(8, 12, 20, 30),
    POX: VitalLimits(88, 92, None, None),
    PAIN: VitalLimits(None, None, 6, None),
    BMI: VitalLimits(None, 18.5, 30.0, 40.0),
}


class LabTest(NamedTuple):
    """A lab test definition with its reference range and the spread of its results.

    ``factor`` names the patient trait that moves the result (``renal``, ``glucose``,
    ``liver``, ``blood``, ``lipid``, ``thyroid`` or ``none``); ``lognormal`` tests are skewed
    to the high side.
    """

    sid: int
    name: str
    code: str
    loinc: str
    unit: str
    low: float | None
    high: float | None
    critical_low: float | None
    critical_high: float | None
    decimals: int
    mean: float
    sd: float
    factor: str
    lognormal: bool
    specimen: str


_T = LabTest
LAB_TESTS: dict[str, LabTest] = {t.code: t for t in (
    _T(1001, "SODIUM", "NA", "2951-2", "mmol/L", 135, 145, 120, 160, 0, 139, 3, "renal", False, "SERUM"),
    _T(1002, "POTASSIUM", "K", "2823-3", "mmol/L", 3.5, 5.1, 2.5, 6.5, 1, 4.2, 0.45, "renal", False, "SERUM"),
    _T(1003, "CHLORIDE", "CL", "2075-0", "mmol/L", 98, 107, 80, 120, 0, 102, 3, "none", False, "SERUM"),
    _T(1004, "CO2", "CO2", "2028-9", "mmol/L", 22, 29, 10, 40, 0, 26, 2.5, "none", False, "SERUM"),
    _T(1005, "UREA NITROGEN", "BUN", "3094-0", "mg/dL", 7, 20, None, 100, 0, 16, 6, "renal", True, "SERUM"),
    _T(1006, "CREATININE", "CREAT", "2160-0", "mg/dL", 0.7, 1.3, None, 10, 2, 1.0, 0.3, "renal", True, "SERUM"),
    _T(1007, "GLUCOSE", "GLU", "2345-7", "mg/dL", 70, 110, 40, 500, 0, 99, 17, "glucose", False, "SERUM"),
    _T(1008, "CALCIUM", "CA", "17861-6", "mg/dL", 8.6, 10.3, 6.0, 13.0, 1, 9.4, 0.4, "none", False, "SERUM"),
    _T(1009, "PROTEIN, TOTAL", "TP", "2885-2", "g/dL", 6.0, 8.3, None, None, 1, 7.0, 0.5, "liver", False, "SERUM"),
    _T(1010, "ALBUMIN", "ALB", "1751-7", "g/dL", 3.5, 5.0, None, None, 1, 4.0, 0.4, "liver", False, "SERUM"),
    _T(1011, "BILIRUBIN, TOTAL", "TBIL", "1975-2", "mg/dL", 0.1, 1.2, None, 15, 1, 0.7, 0.3, "liver", True, "SERUM"),
    _T(1012, "ALKALINE PHOSPHATASE", "ALKP", "6768-6", "U/L", 44, 147, None, None, 0, 80, 25, "liver", True, "SERUM"),
    _T(1013, "AST", "AST", "1920-8", "U/L", 10, 40, None, 1000, 0, 25, 9, "liver", True, "SERUM"),
    _T(1014, "ALT", "ALT", "1742-6", "U/L", 7, 56, None, 1000, 0, 28, 11, "liver", True, "SERUM"),
    _T(1021, "WBC", "WBC", "6690-2", "K/uL", 4.5, 11.0, 2.0, 30.0, 1, 7.2, 1.9, "none", True, "BLOOD"),
    _T(1022, "RBC", "RBC", "789-8", "M/uL", 4.5, 5.9, None, None, 2, 4.9, 0.45, "blood", False, "BLOOD"),
    _T(1023, "HEMOGLOBIN", "HGB", "718-7", "g/dL", 13.5, 17.5, 7.0, 20.0, 1, 14.4, 1.4, "blood", False, "BLOOD"),
    _T(1024, "HEMATOCRIT", "HCT", "4544-3", "%", 41, 53, 21, 60, 1, 43.0, 4.2, "blood", False, "BLOOD"),
    _T(1025, "MCV", "MCV", "787-2", "fL", 80, 100, None, None, 1, 90, 5, "none", False, "BLOOD"),
    _T(1026, "PLATELET COUNT", "PLT", "777-3", "K/uL", 150, 400, 50, 1000, 0, 245, 60, "none", False, "BLOOD"),
    _T(1031, "CHOLESTEROL", "CHOL", "2093-3", "mg/dL", None, 200, None, None, 0, 172, 32, "lipid", False, "SERUM"),
    _T(1032, "HDL CHOLESTEROL", "HDL", "2085-9", "mg/dL", 40, None, None, None, 0, 47, 11, "none", False, "SERUM"),
    _T(1033, "LDL CHOLESTEROL (CALC)", "LDL", "13457-7", "mg/dL", None, 100, None, None, 0, 92, 28, "lipid", False, "SERUM"),
    _T(1034, "TRIGLYCERIDES", "TRIG", "2571-8", "mg/dL", None, 150, None, 1000, 0, 135, 55, "lipid", True, "SERUM"),
    _T(1041, "HEMOGLOBIN A1C", "A1C", "4548-4", "%", 4.0, 5.6, None, None, 1, 5.6, 0.6, "glucose", True, "BLOOD"),
    _T(1042, "TSH", "TSH", "3016-3", "mIU/L", 0.4, 4.0, 0.01, 20, 2, 1.8, 0.9, "thyroid", True, "SERUM"),
    _T(1051, "MAGNESIUM", "MG", "19123-9", "mg/dL", 1.7, 2.2, 1.0, 4.0, 1, 2.0, 0.2, "renal", False, "SERUM"),
    _T(1052, "PSA", "PSA", "2857-1", "ng/mL", None, 4.0, None, None, 2, 1.4, 1.1, "none", True, "SERUM"),
    _T(1053, "VITAMIN D, 25-HYDROXY", "VITD", "1989-3", "ng/mL", 30, 100, None, None, 0, 31, 11, "none", False, "SERUM"),
    _T(1054, "INR", "INR", "6301-6", "ratio", 0.8, 1.2, None, 5.0, 1, 1.1, 0.25, "none", True, "PLASMA"),
    _T(1055, "B-TYPE NATRIURETIC PEPTIDE", "BNP", "30934-4", "pg/mL", None, 100, None, None, 0, 70, 60, "renal", True, "PLASMA"),
)}  # fmt: skip
del _T

LAB_FACTORS = ("none", "renal", "glucose", "liver", "blood", "lipid", "thyroid")
#: Share of patients with a condition that moves each factor, and by how many SDs.
LAB_FACTOR_CONDITIONS = {
    "renal": (0.15, 2.2), "glucose": (0.28, 2.0), "liver": (0.06, 2.5),
    "blood": (0.1, -2.2), "lipid": (0.35, 1.5), "thyroid": (0.08, 2.5),
}  # fmt: skip

_BMP = ("NA", "K", "CL", "CO2", "BUN", "CREAT", "GLU", "CA")


class LabPanel(NamedTuple):
    """A panel of tests drawn together under one accession; name None for single tests."""

    name: str | None
    tests: tuple[str, ...]
    probability: float  # chance that a lab visit orders it


#: Panels ordered at a lab visit: one chemistry panel (BMP or CMP) always, others by chance.
LAB_PANELS: tuple[LabPanel, ...] = (
    LabPanel("BMP", _BMP, 0.0),  # the chemistry panel when CMP is not ordered
    LabPanel("CMP", (*_BMP, "TP", "ALB", "TBIL", "ALKP", "AST", "ALT"), 0.35),
    LabPanel("CBC", ("WBC", "RBC", "HGB", "HCT", "MCV", "PLT"), 0.6),
    LabPanel("LIPID PANEL", ("CHOL", "HDL", "LDL", "TRIG"), 0.25),
    LabPanel("A1C", ("A1C",), 0.3),
    LabPanel("TSH", ("TSH",), 0.12),
    LabPanel(None, ("MG",), 0.08),
    LabPanel(None, ("PSA",), 0.06),
    LabPanel(None, ("VITD",), 0.06),
    LabPanel(None, ("INR",), 0.05),
    LabPanel(None, ("BNP",), 0.04),
)


class Drug(NamedTuple):
    """An outpatient drug product with its usual prescription."""

    generic: str
    trade: str
    strength: str
    unit: str
    form: str
    drug_class: str
    class_code: str
    dea: str | None
    per_day: float  # dispense units per day
    weight: float


_CV350 = ("ANTILIPEMIC AGENTS", "CV350")
_CV100 = ("BETA BLOCKERS/RELATED", "CV100")
_CN609 = ("ANTIDEPRESSANTS,OTHER", "CN609")
_CN101 = ("OPIOID ANALGESICS", "CN101")
_CN302 = ("BENZODIAZEPINE DERIVATIVE SEDATIVES/HYPNOTICS", "CN302")
_D = Drug
OUTPATIENT_DRUGS: tuple[Drug, ...] = (
    _D("METFORMIN HCL", "GLUCOPHAGE", "500", "MG", "TAB", "ORAL HYPOGLYCEMIC AGENTS,ORAL", "HS502", None, 2, 6),
    _D("LISINOPRIL", "ZESTRIL", "10", "MG", "TAB", "ACE INHIBITORS", "CV800", None, 1, 7),
    _D("ATORVASTATIN CALCIUM", "LIPITOR", "40", "MG", "TAB", *_CV350, None, 1, 8),
    _D("SIMVASTATIN", "ZOCOR", "20", "MG", "TAB", *_CV350, None, 1, 3),
    _D("AMLODIPINE BESYLATE", "NORVASC", "5", "MG", "TAB", "CALCIUM CHANNEL BLOCKERS", "CV200", None, 1, 5),
    _D("METOPROLOL TARTRATE", "LOPRESSOR", "25", "MG", "TAB", *_CV100, None, 2, 4),
    _D("METOPROLOL SUCCINATE", "TOPROL XL", "50", "MG", "SA TAB", *_CV100, None, 1, 3),
    _D("CARVEDILOL", "COREG", "6.25", "MG", "TAB", *_CV100, None, 2, 2),
    _D("LOSARTAN POTASSIUM", "COZAAR", "50", "MG", "TAB", "ANGIOTENSIN II INHIBITOR", "CV805", None, 1, 4),
    _D("HYDROCHLOROTHIAZIDE", "MICROZIDE", "25", "MG", "TAB", "THIAZIDES/RELATED DIURETICS", "CV701", None, 1, 4),
    _D("FUROSEMIDE", "LASIX", "40", "MG", "TAB", "LOOP DIURETICS", "CV702", None, 1, 3),
    _D("WARFARIN SODIUM", "COUMADIN", "5", "MG", "TAB", "ANTICOAGULANTS", "BL110", None, 1, 1.5),
    _D("APIXABAN", "ELIQUIS", "5", "MG", "TAB", "ANTICOAGULANTS", "BL110", None, 2, 2),
    _D("CLOPIDOGREL BISULFATE", "PLAVIX", "75", "MG", "TAB", "PLATELET AGGREGATION INHIBITORS", "BL117", None, 1, 2),
    _D("ASPIRIN", "ECOTRIN", "81", "MG", "EC TAB", "NON-OPIOID ANALGESICS", "CN103", None, 1, 6),
    _D("OMEPRAZOLE", "PRILOSEC", "20", "MG", "EC CAP", "ANTIULCER AGENTS", "GA300", None, 1, 5),
    _D("PANTOPRAZOLE SODIUM", "PROTONIX", "40", "MG", "EC TAB", "ANTIULCER AGENTS", "GA300", None, 1, 2),
    _D("GABAPENTIN", "NEURONTIN", "300", "MG", "CAP", "ANTICONVULSANTS", "CN400", None, 3, 5),
    _D("SERTRALINE HCL", "ZOLOFT", "50", "MG", "TAB", *_CN609, None, 1, 5),
    _D("CITALOPRAM HYDROBROMIDE", "CELEXA", "20", "MG", "TAB", *_CN609, None, 1, 3),
    _D("FLUOXETINE HCL", "PROZAC", "20", "MG", "CAP", *_CN609, None, 1, 2),
    _D("BUPROPION HCL", "WELLBUTRIN SR", "150", "MG", "SA TAB", *_CN609, None, 2, 2),
    _D("TRAZODONE HCL", "DESYREL", "50", "MG", "TAB", *_CN609, None, 1, 4),
    _D("PRAZOSIN HCL", "MINIPRESS", "1", "MG", "CAP", "ALPHA BLOCKERS/RELATED", "CV150", None, 2, 2),
    _D("TAMSULOSIN HCL", "FLOMAX", "0.4", "MG", "CAP", "ALPHA BLOCKERS/RELATED", "CV150", None, 1, 4),
    _D("FINASTERIDE", "PROSCAR", "5", "MG", "TAB", "GENITOURINARY AGENTS,OTHER", "GU900", None, 1, 2),
    _D("LEVOTHYROXINE SODIUM", "SYNTHROID", "50", "MCG", "TAB", "THYROID SUPPLEMENTS", "HS851", None, 1, 3),
    _D("INSULIN GLARGINE", "LANTUS", "100", "UNIT/ML", "INJ", "INSULIN", "HS501", None, 0.5, 2),
    _D("ALBUTEROL SULFATE", "PROAIR HFA", "90", "MCG/ACTUAT", "INHL", "BRONCHODILATORS,SYMPATHOMIMETIC,INHALATION", "RE102", None, 0.2, 4),
    _D("TIOTROPIUM BROMIDE", "SPIRIVA", "18", "MCG", "INHL CAP", "BRONCHODILATORS,ANTICHOLINERGIC", "RE105", None, 1, 2),
    _D("FLUTICASONE PROPIONATE", "FLONASE", "50", "MCG/ACTUAT", "NASAL SPRAY", "NASAL AND THROAT,TOPICAL,OTHER", "NT900", None, 0.1, 3),
    _D("MELOXICAM", "MOBIC", "15", "MG", "TAB", "NONSALICYLATE NSAIS,ANTIRHEUMATIC", "MS102", None, 1, 3),
    _D("NAPROXEN", "NAPROSYN", "500", "MG", "TAB", "NONSALICYLATE NSAIS,ANTIRHEUMATIC", "MS102", None, 2, 2),
    _D("ALLOPURINOL", "ZYLOPRIM", "100", "MG", "TAB", "ANTIGOUT AGENTS", "MS400", None, 1, 2),
    _D("SILDENAFIL CITRATE", "VIAGRA", "50", "MG", "TAB", "GENITOURINARY AGENTS,OTHER", "GU900", None, 0.3, 1.5),
    _D("CHOLECALCIFEROL", "VITAMIN D3", "1000", "UNIT", "TAB", "VITAMIN D", "VT502", None, 1, 4),
    _D("NALOXONE HCL", "NARCAN", "4", "MG", "NASAL SPRAY", "OPIOID ANTAGONISTS", "CN102", None, 0.1, 1),
    _D("OXYCODONE HCL", "ROXICODONE", "5", "MG", "TAB", *_CN101, "2", 3, 1.2),
    _D("HYDROCODONE/ACETAMINOPHEN", "NORCO", "5/325", "MG", "TAB", *_CN101, "2", 3, 1.2),
    _D("MORPHINE SULFATE", "MS CONTIN", "15", "MG", "SA TAB", *_CN101, "2", 2, 0.5),
    _D("METHYLPHENIDATE HCL", "RITALIN", "10", "MG", "TAB", "CNS STIMULANTS", "CN801", "2", 2, 0.3),
    _D("BUPRENORPHINE/NALOXONE", "SUBOXONE", "8/2", "MG", "SL FILM", *_CN101, "3", 2, 0.5),
    _D("TESTOSTERONE CYPIONATE", "DEPO-TESTOSTERONE", "200", "MG/ML", "INJ", "ANDROGENS/ANABOLICS", "HS100", "3", 0.05, 0.8),
    _D("TRAMADOL HCL", "ULTRAM", "50", "MG", "TAB", *_CN101, "4", 3, 1.5),
    _D("LORAZEPAM", "ATIVAN", "1", "MG", "TAB", *_CN302, "4", 2, 0.8),
    _D("ALPRAZOLAM", "XANAX", "0.5", "MG", "TAB", *_CN302, "4", 2, 0.6),
    _D("CLONAZEPAM", "KLONOPIN", "0.5", "MG", "TAB", "ANTICONVULSANTS", "CN400", "4", 2, 0.8),
    _D("ZOLPIDEM TARTRATE", "AMBIEN", "5", "MG", "TAB", "SEDATIVES/HYPNOTICS,OTHER", "CN309", "4", 1, 0.8),
    _D("PREGABALIN", "LYRICA", "75", "MG", "CAP", "ANTICONVULSANTS", "CN400", "5", 2, 0.8),
)  # fmt: skip


class InpatientDrug(NamedTuple):
    """An inpatient drug order as BCMA administers it."""

    generic: str
    trade: str
    strength: str
    unit: str
    form: str
    drug_class: str
    class_code: str
    dea: str | None
    route: str
    schedule: str
    schedule_type: str
    per_day: float  # scheduled doses per day (PRN: doses actually asked for)
    dose: str
    admin_unit: str
    iv_type: str | None
    infusion_rate: str | None
    weight: float


_I = InpatientDrug
INPATIENT_DRUGS: tuple[InpatientDrug, ...] = (
    _I("SODIUM CHLORIDE 0.9%", "NORMAL SALINE", "1000", "ML", "INJ,SOLN", "IV SOLUTIONS WITH ELECTROLYTES", "TN101", None, "IV", "CONTINUOUS", "CONTINUOUS", 2, "1000 ML", "ML", "ADMIXTURE", "100 ML/HR", 4),
    _I("LACTATED RINGER'S", "LACTATED RINGER'S", "1000", "ML", "INJ,SOLN", "IV SOLUTIONS WITH ELECTROLYTES", "TN101", None, "IV", "CONTINUOUS", "CONTINUOUS", 2, "1000 ML", "ML", "ADMIXTURE", "125 ML/HR", 1.5),
    _I("VANCOMYCIN HCL", "VANCOCIN", "1", "GM", "INJ", "ANTI-INFECTIVES,OTHER", "AM900", None, "IV", "Q12H", "CONTINUOUS", 2, "1 GM", "BAG", "PIGGYBACK", "200 ML/HR", 1.5),
    _I("CEFTRIAXONE SODIUM", "ROCEPHIN", "1", "GM", "INJ", "CEPHALOSPORIN 3RD GENERATION", "AM117", None, "IV", "Q24H", "CONTINUOUS", 1, "1 GM", "BAG", "PIGGYBACK", "100 ML/HR", 2),
    _I("PIPERACILLIN/TAZOBACTAM", "ZOSYN", "3.375", "GM", "INJ", "PENICILLINS,EXTENDED SPECTRUM", "AM114", None, "IV", "Q6H", "CONTINUOUS", 4, "3.375 GM", "BAG", "PIGGYBACK", "100 ML/HR", 1),
    _I("HEPARIN SODIUM", "HEPARIN", "5000", "UNIT/ML", "INJ", "ANTICOAGULANTS", "BL110", None, "SC", "Q8H", "CONTINUOUS", 3, "5000 UNIT", "ML", None, None, 4),
    _I("ENOXAPARIN SODIUM", "LOVENOX", "40", "MG/0.4ML", "INJ", "ANTICOAGULANTS", "BL110", None, "SC", "DAILY", "CONTINUOUS", 1, "40 MG", "SYRINGE", None, None, 2.5),
    _I("INSULIN REGULAR HUMAN", "HUMULIN R", "100", "UNIT/ML", "INJ", "INSULIN", "HS501", None, "SC", "AC&HS", "CONTINUOUS", 4, "4 UNIT", "UNIT", None, None, 3),
    _I("MORPHINE SULFATE", "MORPHINE", "2", "MG/ML", "INJ", "OPIOID ANALGESICS", "CN101", "2", "IV", "Q4H PRN", "PRN", 2, "2 MG", "ML", None, None, 1.5),
    _I("HYDROMORPHONE HCL", "DILAUDID", "1", "MG/ML", "INJ", "OPIOID ANALGESICS", "CN101", "2", "IV", "Q3H PRN", "PRN", 2, "0.5 MG", "ML", None, None, 1),
    _I("OXYCODONE HCL", "ROXICODONE", "5", "MG", "TAB", "OPIOID ANALGESICS", "CN101", "2", "PO", "Q4H PRN", "PRN", 2, "5 MG", "TAB", None, None, 2),
    _I("LORAZEPAM", "ATIVAN", "2", "MG/ML", "INJ", "BENZODIAZEPINE DERIVATIVE SEDATIVES/HYPNOTICS", "CN302", "4", "IV", "Q6H PRN", "PRN", 1, "1 MG", "ML", None, None, 0.8),
    _I("ACETAMINOPHEN", "TYLENOL", "325", "MG", "TAB", "NON-OPIOID ANALGESICS", "CN103", None, "PO", "Q6H PRN", "PRN", 2, "650 MG", "TAB", None, None, 4),
    _I("ONDANSETRON HCL", "ZOFRAN", "4", "MG/2ML", "INJ", "ANTIEMETICS", "GA605", None, "IV", "Q8H PRN", "PRN", 1, "4 MG", "ML", None, None, 2),
    _I("PANTOPRAZOLE SODIUM", "PROTONIX", "40", "MG", "EC TAB", "ANTIULCER AGENTS", "GA300", None, "PO", "DAILY", "CONTINUOUS", 1, "40 MG", "TAB", None, None, 3),
    _I("METOPROLOL TARTRATE", "LOPRESSOR", "25", "MG", "TAB", "BETA BLOCKERS/RELATED", "CV100", None, "PO", "BID", "CONTINUOUS", 2, "25 MG", "TAB", None, None, 3),
    _I("LISINOPRIL", "ZESTRIL", "10", "MG", "TAB", "ACE INHIBITORS", "CV800", None, "PO", "DAILY", "CONTINUOUS", 1, "10 MG", "TAB", None, None, 2),
    _I("ATORVASTATIN CALCIUM", "LIPITOR", "40", "MG", "TAB", "ANTILIPEMIC AGENTS", "CV350", None, "PO", "QHS", "CONTINUOUS", 1, "40 MG", "TAB", None, None, 2.5),
    _I("FUROSEMIDE", "LASIX", "10", "MG/ML", "INJ", "LOOP DIURETICS", "CV702", None, "IV", "BID", "CONTINUOUS", 2, "40 MG", "ML", None, None, 1.5),
    _I("POTASSIUM CHLORIDE", "K-DUR", "20", "MEQ", "SA TAB", "POTASSIUM", "TN430", None, "PO", "DAILY", "CONTINUOUS", 1, "20 MEQ", "TAB", None, None, 1.5),
    _I("DOCUSATE SODIUM", "COLACE", "100", "MG", "CAP", "LAXATIVES", "GA200", None, "PO", "BID", "CONTINUOUS", 2, "100 MG", "CAP", None, None, 2),
    _I("SENNOSIDES", "SENOKOT", "8.6", "MG", "TAB", "LAXATIVES", "GA200", None, "PO", "QHS", "CONTINUOUS", 1, "17.2 MG", "TAB", None, None, 1.5),
    _I("NICOTINE", "NICODERM CQ", "21", "MG/24HR", "PATCH", "SMOKING DETERRENTS", "AU100", None, "TRANSDERMAL", "DAILY", "CONTINUOUS", 1, "21 MG", "PATCH", None, None, 0.8),
)  # fmt: skip
del _D, _I

RX_STATUSES = ("ACTIVE", "DISCONTINUED", "EXPIRED", "SUSPENDED")
DISCONTINUE_REASONS = (
    "PROVIDER DISCONTINUED", "THERAPY CHANGED", "ADVERSE REACTION", "PATIENT REQUEST",
    "DUPLICATE THERAPY", "RENEWED",
)  # fmt: skip
#: BCMA actions, their status and weights, for bolus and for IV infusion orders.
BCMA_ACTIONS = ("GIVEN", "HELD", "REFUSED", "MISSING DOSE", "INFUSING", "COMPLETED")
BCMA_ACTION_STATUSES = ("COMPLETED", "HELD", "REFUSED", "MISSING", "IN PROGRESS", "COMPLETED")
BCMA_WEIGHTS = (0.88, 0.05, 0.04, 0.03, 0.0, 0.0)
BCMA_IV_WEIGHTS = (0.0, 0.03, 0.02, 0.0, 0.45, 0.5)
VARIANCE_REASONS = {
    "LATE": ("PATIENT OFF UNIT", "PHARMACY DELAY", "PATIENT ASLEEP", "EMERGENT SITUATION"),
    "EARLY": ("SCHEDULE ADJUSTED", "PATIENT LEAVING FOR PROCEDURE"),
    "HELD": ("NPO", "PARAMETERS NOT MET", "PATIENT OFF UNIT", "PROVIDER ORDER"),
    "REFUSED": ("PATIENT REFUSED", "PATIENT REFUSED - NAUSEA"),
    "MISSED": ("DOSE NOT AVAILABLE", "PATIENT OFF UNIT"),
}
