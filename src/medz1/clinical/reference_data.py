"""Reference data of the synthetic generator: stations, people, places, flags, allergens.

Station numbers and names are real VA facilities (sta3n); everything about patients is
invented. Phone numbers use the fictional 555-01xx range and SSNs the never-issued 9xx
area, so no generated identifier can belong to a real person. Drugs, labs and vital sign
ranges are in :mod:`medz1.clinical.reference_clinical`.
"""

from __future__ import annotations

from typing import NamedTuple


def _words(text: str) -> tuple[str, ...]:
    """The whitespace-separated words of ``text`` (long name lists read better as text)."""
    return tuple(text.split())


class Station(NamedTuple):
    """A VA medical center: station number, name, source system and nearby towns."""

    sta3n: str
    name: str
    state: str
    area_code: str
    source_system: str
    weight: float
    towns: tuple[tuple[str, str], ...]  # (city, ZIP)


#: Real VA stations. Spokane, Walla Walla and Columbus run Oracle Health (CDWWork2).
STATIONS: tuple[Station, ...] = (
    Station("402", "Togus VAMC", "ME", "207", "CDWWork", 0.6,
            (("Augusta", "04330"), ("Waterville", "04901"), ("Lewiston", "04240"))),
    Station("405", "White River Junction VAMC", "VT", "802", "CDWWork", 0.5,
            (("White River Junction", "05001"), ("Lebanon", "03766"), ("Rutland", "05701"))),
    Station("508", "Atlanta VAMC", "GA", "404", "CDWWork", 1.6,
            (("Decatur", "30033"), ("Atlanta", "30310"), ("Marietta", "30060"))),
    Station("516", "Bay Pines VA Healthcare System", "FL", "727", "CDWWork", 1.5,
            (("Bay Pines", "33744"), ("St. Petersburg", "33710"), ("Clearwater", "33755"))),
    Station("521", "Birmingham VAMC", "AL", "205", "CDWWork", 1.0,
            (("Birmingham", "35233"), ("Hoover", "35244"), ("Bessemer", "35020"))),
    Station("528", "Buffalo VAMC", "NY", "716", "CDWWork", 0.9,
            (("Buffalo", "14215"), ("Cheektowaga", "14225"), ("Niagara Falls", "14301"))),
    Station("549", "Dallas VAMC", "TX", "214", "CDWWork", 1.5,
            (("Dallas", "75216"), ("Garland", "75040"), ("Mesquite", "75149"))),
    Station("552", "Dayton VAMC", "OH", "937", "CDWWork", 0.9,
            (("Dayton", "45428"), ("Kettering", "45429"), ("Springfield", "45503"))),
    Station("558", "Durham VAMC", "NC", "919", "CDWWork", 1.0,
            (("Durham", "27705"), ("Raleigh", "27610"), ("Chapel Hill", "27514"))),
    Station("580", "Houston VAMC", "TX", "713", "CDWWork", 1.6,
            (("Houston", "77030"), ("Pasadena", "77506"), ("Sugar Land", "77478"))),
    Station("589", "Kansas City VAMC", "MO", "816", "CDWWork", 0.9,
            (("Kansas City", "64128"), ("Independence", "64050"), ("Lee's Summit", "64063"))),
    Station("612", "Martinez VA Medical Center", "CA", "925", "CDWWork", 0.8,
            (("Martinez", "94553"), ("Concord", "94520"), ("Vallejo", "94590"))),
    Station("640", "Palo Alto VA Health Care System", "CA", "650", "CDWWork", 1.2,
            (("Palo Alto", "94304"), ("San Jose", "95112"), ("Mountain View", "94040"))),
    Station("642", "Philadelphia VAMC", "PA", "215", "CDWWork", 1.1,
            (("Philadelphia", "19104"), ("Upper Darby", "19082"), ("Camden", "08102"))),
    Station("663", "Seattle VAMC", "WA", "206", "CDWWork", 1.1,
            (("Seattle", "98108"), ("Renton", "98057"), ("Tacoma", "98402"))),
    Station("668", "Spokane VAMC", "WA", "509", "CDWWork2", 0.6,
            (("Spokane", "99205"), ("Spokane Valley", "99216"), ("Coeur d'Alene", "83814"))),
    Station("687", "Walla Walla VAMC", "WA", "509", "CDWWork2", 0.4,
            (("Walla Walla", "99362"), ("Kennewick", "99336"), ("Pendleton", "97801"))),
    Station("688", "Washington DC VAMC", "DC", "202", "CDWWork", 1.1,
            (("Washington", "20422"), ("Silver Spring", "20910"), ("Alexandria", "22314"))),
    Station("691", "West Los Angeles VAMC", "CA", "310", "CDWWork", 1.6,
            (("Los Angeles", "90073"), ("Santa Monica", "90404"), ("Inglewood", "90301"))),
    Station("757", "Columbus VA Ambulatory Care Center", "OH", "614", "CDWWork2", 0.6,
            (("Columbus", "43219"), ("Westerville", "43081"), ("Grove City", "43123"))),
)  # fmt: skip

MALE_FIRST_NAMES = _words("""
JAMES JOHN ROBERT MICHAEL WILLIAM DAVID RICHARD JOSEPH THOMAS CHARLES CHRISTOPHER DANIEL
MATTHEW ANTHONY MARK DONALD STEVEN PAUL ANDREW JOSHUA KENNETH KEVIN BRIAN GEORGE TIMOTHY
RONALD EDWARD JASON JEFFREY RYAN JACOB GARY NICHOLAS ERIC JONATHAN STEPHEN LARRY JUSTIN
SCOTT BRANDON BENJAMIN SAMUEL GREGORY ALEXANDER FRANK PATRICK RAYMOND JACK DENNIS JERRY
TYLER AARON JOSE ADAM NATHAN HENRY DOUGLAS ZACHARY PETER KYLE ETHAN WALTER NOAH JEREMY
CHRISTIAN KEITH ROGER TERRY GERALD HAROLD SEAN AUSTIN CARL ARTHUR LAWRENCE DYLAN JESSE
JORDAN BRYAN BILLY JOE BRUCE GABRIEL LOGAN ALBERT WILLIE ALAN JUAN WAYNE ELIJAH RANDY ROY
VINCENT RALPH EUGENE RUSSELL BOBBY MASON PHILIP LOUIS CARLOS LUIS MARCUS DARNELL CURTIS
LEROY MELVIN EARL HOWARD CLARENCE FRED TROY MARVIN GLENN RODNEY DALE
""")

FEMALE_FIRST_NAMES = _words("""
MARY PATRICIA JENNIFER LINDA ELIZABETH BARBARA SUSAN JESSICA SARAH KAREN LISA NANCY BETTY
MARGARET SANDRA ASHLEY KIMBERLY EMILY DONNA MICHELLE CAROL AMANDA DOROTHY MELISSA DEBORAH
STEPHANIE REBECCA SHARON LAURA CYNTHIA KATHLEEN AMY ANGELA SHIRLEY ANNA BRENDA PAMELA EMMA
NICOLE HELEN SAMANTHA KATHERINE CHRISTINE DEBRA RACHEL CAROLYN JANET CATHERINE MARIA HEATHER
DIANE RUTH JULIE OLIVIA JOYCE VIRGINIA VICTORIA KELLY LAUREN CHRISTINA JOAN EVELYN JUDITH
MEGAN ANDREA CHERYL HANNAH JACQUELINE MARTHA GLORIA TERESA ANN SARA MADISON FRANCES KATHRYN
JANICE JEAN ABIGAIL ALICE JULIA JUDY SOPHIA GRACE DENISE AMBER DORIS MARILYN DANIELLE
BEVERLY ISABELLA THERESA DIANA NATALIE BRITTANY CHARLOTTE MARIE KAYLA ALEXIS LORI TONYA
YOLANDA KEISHA ROSA
""")

LAST_NAMES = _words("""
SMITH JOHNSON WILLIAMS BROWN JONES GARCIA MILLER DAVIS RODRIGUEZ MARTINEZ HERNANDEZ LOPEZ
GONZALEZ WILSON ANDERSON THOMAS TAYLOR MOORE JACKSON MARTIN LEE PEREZ THOMPSON WHITE HARRIS
SANCHEZ CLARK RAMIREZ LEWIS ROBINSON WALKER YOUNG ALLEN KING WRIGHT SCOTT TORRES NGUYEN HILL
FLORES GREEN ADAMS NELSON BAKER HALL RIVERA CAMPBELL MITCHELL CARTER ROBERTS GOMEZ PHILLIPS
EVANS TURNER DIAZ PARKER CRUZ EDWARDS COLLINS REYES STEWART MORRIS MORALES MURPHY COOK
ROGERS GUTIERREZ ORTIZ MORGAN COOPER PETERSON BAILEY REED KELLY HOWARD RAMOS KIM COX WARD
RICHARDSON WATSON BROOKS CHAVEZ WOOD JAMES BENNETT GRAY MENDOZA RUIZ HUGHES PRICE ALVAREZ
CASTILLO SANDERS PATEL MYERS LONG ROSS FOSTER JIMENEZ POWELL JENKINS PERRY RUSSELL SULLIVAN
BELL COLEMAN BUTLER HENDERSON BARNES GONZALES FISHER VASQUEZ SIMMONS ROMERO JORDAN PATTERSON
ALEXANDER HAMILTON GRAHAM REYNOLDS GRIFFIN WALLACE MORENO WEST COLE HAYES BRYANT HERRERA
GIBSON ELLIS TRAN MEDINA AGUILAR STEVENS MURRAY FORD CASTRO MARSHALL OWENS HARRISON
FERNANDEZ MCDONALD WOODS WASHINGTON KENNEDY WELLS VARGAS HENRY CHEN FREEMAN WEBB TUCKER
GUZMAN BURNS CRAWFORD OLSON SIMPSON PORTER HUNTER GORDON MENDEZ SILVA SHAW SNYDER MASON
DIXON MUNOZ HUNT HICKS HOLMES PALMER WAGNER BLACK ROBERTSON BOYD ROSE STONE SALAZAR FOX
WARREN MILLS MEYER RICE SCHMIDT GARZA DANIELS FERGUSON NICHOLS STEPHENS SOTO WEAVER RYAN
GARDNER PAYNE GRANT DUNN KELLEY SPENCER HAWKINS ARNOLD PIERCE VAZQUEZ HANSEN PETERS SANTOS
HART BRADLEY KNIGHT ELLIOTT CUNNINGHAM DUNCAN ARMSTRONG HUDSON CARROLL LANE RILEY ANDREWS
ALVARADO RAY DELGADO BERRY PERKINS HOFFMAN JOHNSTON MATTHEWS PENA RICHARDS CONTRERAS WILLIS
CARPENTER LAWRENCE SANDOVAL GUERRERO GEORGE CHAPMAN RIOS ESTRADA ORTEGA WATKINS GREENE NUNEZ
WHEELER VALDEZ HARPER BURKE LARSON SANTIAGO MALDONADO MORRISON FRANKLIN CARLSON AUSTIN
DOMINGUEZ CARR LAWSON JACOBS OBRIEN LYNCH SINGH VEGA BISHOP MONTGOMERY OLIVER JENSEN HARVEY
WILLIAMSON GILBERT DEAN SIMS ESPINOZA HOWELL LI WONG REID HANSON LE MCCOY GARRETT BURTON
FULLER WANG WEBER WELCH ROJAS LUCAS MARQUEZ FIELDS PARK YANG LITTLE BANKS PADILLA DAY WALSH
BOWMAN SCHULTZ LUNA FOWLER MEJIA DAVIDSON ACOSTA BREWER MAY HOLLAND JUAREZ NEWMAN PEARSON
CURTIS CORTEZ
""")

STREET_NAMES = _words("""
Main Oak Maple Pine Cedar Elm Washington Lake Hill Park Walnut Lincoln Jackson Church
Highland Sunset Ridge Spring River Meadow Forest Willow Jefferson Madison Franklin Chestnut
Dogwood Magnolia Hickory Birch Lakeview Valley Mill Center Liberty Veterans Poplar Sycamore
""")
STREET_SUFFIXES = ("St", "Ave", "Rd", "Dr", "Ln", "Blvd", "Ct", "Way", "Pl", "Cir")
UNIT_PREFIXES = ("Apt", "Unit", "Ste", "#")

SEXES = ("M", "F")
GENDERS = ("Male", "Female")
MARITAL_STATUSES = ("MARRIED", "DIVORCED", "NEVER MARRIED", "WIDOWED", "SEPARATED", "UNKNOWN")
MARITAL_WEIGHTS = (0.48, 0.2, 0.14, 0.11, 0.04, 0.03)
RELIGIONS = (
    "CATHOLIC", "BAPTIST", "PROTESTANT, NO DENOMINATION", "METHODIST", "LUTHERAN",
    "CHRISTIAN (NON-SPECIFIC)", "JEWISH", "MUSLIM", "BUDDHIST", "NO PREFERENCE",
    "UNKNOWN/NO PREFERENCE", "PENTECOSTAL", "EPISCOPALIAN", "LATTER DAY SAINTS",
)  # fmt: skip
RELIGION_WEIGHTS = (0.2, 0.14, 0.1, 0.07, 0.05, 0.1, 0.02, 0.01, 0.01, 0.13, 0.09, 0.03, 0.02, 0.03)
INSURANCE_COMPANIES = (
    None, "MEDICARE", "BLUE CROSS BLUE SHIELD", "AETNA", "HUMANA", "TRICARE FOR LIFE",
    "UNITEDHEALTHCARE", "CIGNA", "MEDICAID",
)  # fmt: skip
INSURANCE_WEIGHTS = (0.35, 0.3, 0.1, 0.05, 0.05, 0.06, 0.05, 0.02, 0.02)
VETERAN_STATUSES = ("Veteran", "Non-Veteran (Other)", "Active Duty")
VETERAN_WEIGHTS = (0.96, 0.03, 0.01)
#: Service-connected rating in steps of 10 percent; None is "not service connected".
SC_PERCENTS = (None, 0, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100)
SC_WEIGHTS = (0.35, 0.05, 0.1, 0.08, 0.08, 0.06, 0.05, 0.05, 0.05, 0.04, 0.03, 0.06)

STAFF_TITLES = ("RN", "LPN", "MSA", "HT", "NP", "RN", "RN", "LPN")
PROVIDER_TITLES = ("MD", "DO", "NP", "PA-C", "MD", "MD")


class Location(NamedTuple):
    """A clinic or ward where vitals are taken and specimens collected."""

    location_id: int
    name: str
    location_type: str
    weight: float


CLINICS: tuple[Location, ...] = (
    Location(1101, "PRIMARY CARE CLINIC", "Outpatient Clinic", 5.0),
    Location(1102, "PACT GREEN TEAM", "Outpatient Clinic", 3.0),
    Location(1103, "PACT BLUE TEAM", "Outpatient Clinic", 3.0),
    Location(1104, "CARDIOLOGY CLINIC", "Outpatient Clinic", 1.0),
    Location(1105, "MENTAL HEALTH CLINIC", "Outpatient Clinic", 1.2),
    Location(1106, "PULMONARY CLINIC", "Outpatient Clinic", 0.6),
    Location(1107, "DIABETES CLINIC", "Outpatient Clinic", 0.8),
    Location(1108, "WOMEN'S HEALTH CLINIC", "Outpatient Clinic", 0.3),
    Location(1109, "EMERGENCY DEPARTMENT", "Emergency Department", 1.0),
    Location(1110, "URGENT CARE CLINIC", "Emergency Department", 0.6),
    Location(1111, "LAB DRAW STATION", "Outpatient Clinic", 4.0),
    Location(1112, "CBOC TELEHEALTH", "Telehealth", 0.5),
)


class Ward(NamedTuple):
    """An inpatient ward: where patients are admitted and inpatient doses are given."""

    location_id: int
    name: str
    ward_type: str
    weight: float


WARDS: tuple[Ward, ...] = (
    Ward(2201, "3 EAST MEDICINE", "Ward", 4.0),
    Ward(2202, "4 WEST SURGERY", "Ward", 2.0),
    Ward(2203, "5 SOUTH TELEMETRY", "Step-Down", 1.5),
    Ward(2204, "MICU", "ICU", 1.0),
    Ward(2205, "SICU", "ICU", 0.6),
    Ward(2206, "2 NORTH ACUTE PSYCHIATRY", "Psychiatry", 1.0),
    Ward(2207, "OBSERVATION UNIT", "Observation", 1.0),
    Ward(2208, "CLC REHABILITATION", "Community Living Center", 0.6),
)


class Diagnosis(NamedTuple):
    """An admission diagnosis: ICD-10-CM code, text, category and typical stay in days."""

    code: str
    text: str
    category: str
    ward: int  # index into WARDS
    mean_stay: float
    weight: float


DIAGNOSES: tuple[Diagnosis, ...] = (
    Diagnosis("I50.9", "Heart failure, unspecified", "Medical", 2, 5.0, 3.0),
    Diagnosis("J44.1", "COPD with (acute) exacerbation", "Medical", 0, 4.0, 2.5),
    Diagnosis("J18.9", "Pneumonia, unspecified organism", "Medical", 0, 5.0, 2.5),
    Diagnosis("A41.9", "Sepsis, unspecified organism", "Medical", 3, 7.0, 1.5),
    Diagnosis("N17.9", "Acute kidney failure, unspecified", "Medical", 0, 4.5, 1.2),
    Diagnosis("I21.4", "Non-ST elevation myocardial infarction", "Medical", 2, 4.0, 1.0),
    Diagnosis("I48.91", "Unspecified atrial fibrillation", "Medical", 2, 3.0, 1.2),
    Diagnosis("E11.65", "Type 2 diabetes mellitus with hyperglycemia", "Medical", 0, 3.0, 1.0),
    Diagnosis("I63.9", "Cerebral infarction, unspecified", "Medical", 2, 6.0, 0.8),
    Diagnosis("K92.2", "Gastrointestinal hemorrhage, unspecified", "Medical", 0, 4.0, 0.8),
    Diagnosis("L03.115", "Cellulitis of right lower limb", "Medical", 0, 4.0, 1.0),
    Diagnosis("R07.9", "Chest pain, unspecified", "Observation", 6, 1.0, 2.0),
    Diagnosis("R55", "Syncope and collapse", "Observation", 6, 1.5, 0.8),
    Diagnosis("F10.239", "Alcohol dependence with withdrawal, unspecified", "Psychiatric", 5, 5.0, 1.0),
    Diagnosis("F32.2", "Major depressive disorder, single episode, severe", "Psychiatric", 5, 8.0, 0.8),
    Diagnosis("F43.12", "Post-traumatic stress disorder, chronic", "Psychiatric", 5, 10.0, 0.7),
    Diagnosis("M17.11", "Unilateral primary osteoarthritis, right knee", "Surgical", 1, 3.0, 0.8),
    Diagnosis("K80.20", "Calculus of gallbladder without obstruction", "Surgical", 1, 2.5, 0.6),
    Diagnosis("S72.001A", "Fracture of neck of right femur, initial encounter", "Surgical", 1, 6.0, 0.5),
    Diagnosis("Z47.1", "Aftercare following joint replacement surgery", "Rehabilitation", 7, 14.0, 0.5),
)  # fmt: skip

DISPOSITIONS = (
    "HOME", "HOME WITH SERVICES", "SKILLED NURSING FACILITY", "TRANSFER TO OTHER FACILITY",
    "AGAINST MEDICAL ADVICE", "COMMUNITY LIVING CENTER",
)  # fmt: skip
DISPOSITION_WEIGHTS = (0.66, 0.14, 0.08, 0.05, 0.03, 0.04)


class Flag(NamedTuple):
    """A patient record flag: name, category (I national, II local), type, review days."""

    name: str
    category: str
    flag_type: str
    review_days: int
    weight: float


#: Eleven flags: a prime number, so distinct flags per patient can be drawn by stride.
FLAGS: tuple[Flag, ...] = (
    Flag("HIGH RISK FOR SUICIDE", "I", "CLINICAL", 90, 3.0),
    Flag("BEHAVIORAL", "I", "BEHAVIORAL", 730, 2.0),
    Flag("MISSING PATIENT", "I", "OTHER", 90, 0.2),
    Flag("URGENT ADDRESS AS FEMALE", "I", "OTHER", 730, 0.2),
    Flag("DRUG SEEKING BEHAVIOR", "II", "BEHAVIORAL", 365, 1.0),
    Flag("FALL RISK", "II", "CLINICAL", 365, 2.0),
    Flag("WANDERING RISK", "II", "CLINICAL", 365, 0.6),
    Flag("RESEARCH STUDY PARTICIPANT", "II", "RESEARCH", 365, 0.8),
    Flag("INFECTIOUS DISEASE - MDRO", "II", "CLINICAL", 365, 0.8),
    Flag("DISRUPTIVE BEHAVIOR - LOCAL", "II", "BEHAVIORAL", 365, 0.7),
    Flag("OPIOID SAFETY INITIATIVE", "II", "CLINICAL", 180, 0.9),
)

#: VistA PRF action codes and names.
FLAG_ACTIONS = {1: "NEW ASSIGNMENT", 2: "CONTINUE", 3: "INACTIVATE", 4: "REACTIVATE"}
FLAG_ACTION_COMMENTS = {
    1: "Flag assigned after interdisciplinary review; safety plan documented.",
    2: "Flag reviewed and continued; the criteria for assignment still apply.",
    3: "Flag inactivated after review; the criteria no longer apply.",
    4: "Flag reactivated after a new qualifying event.",
}
#: Action sequences of a flag assignment and their weights: first action NEW ASSIGNMENT.
FLAG_HISTORIES: tuple[tuple[tuple[int, ...], float], ...] = (
    ((1,), 0.3),
    ((1, 2), 0.25),
    ((1, 2, 2), 0.15),
    ((1, 3), 0.1),
    ((1, 2, 3), 0.1),
    ((1, 3, 4), 0.05),
    ((1, 3, 4, 2), 0.05),
)


class Allergen(NamedTuple):
    """An allergen: standardised name, name as entered locally, type."""

    standardized: str
    local: str
    allergen_type: str
    weight: float


#: 31 allergens: a prime number, so distinct allergens per patient can be drawn by stride.
ALLERGENS: tuple[Allergen, ...] = (
    Allergen("PENICILLIN", "PENICILLIN VK 500MG TAB", "DRUG", 8.0),
    Allergen("SULFA DRUGS", "SULFAMETHOXAZOLE/TRIMETHOPRIM", "DRUG", 5.0),
    Allergen("CODEINE", "CODEINE SULFATE 30MG TAB", "DRUG", 3.0),
    Allergen("MORPHINE", "MORPHINE SULFATE", "DRUG", 2.0),
    Allergen("ASPIRIN", "ASPIRIN 325MG TAB", "DRUG", 2.0),
    Allergen("IBUPROFEN", "IBUPROFEN 800MG TAB", "DRUG", 1.5),
    Allergen("ACE INHIBITORS", "LISINOPRIL 10MG TAB", "DRUG", 2.0),
    Allergen("STATINS", "ATORVASTATIN 40MG TAB", "DRUG", 1.5),
    Allergen("CEPHALOSPORINS", "CEPHALEXIN 500MG CAP", "DRUG", 1.5),
    Allergen("AMOXICILLIN", "AMOXICILLIN 500MG CAP", "DRUG", 1.5),
    Allergen("CIPROFLOXACIN", "CIPROFLOXACIN HCL 500MG TAB", "DRUG", 1.0),
    Allergen("IODINATED CONTRAST MEDIA", "IOHEXOL (OMNIPAQUE) INJ", "DRUG", 2.0),
    Allergen("ERYTHROMYCIN", "ERYTHROMYCIN 250MG TAB", "DRUG", 0.8),
    Allergen("TETRACYCLINE", "TETRACYCLINE 250MG CAP", "DRUG", 0.6),
    Allergen("HYDROCODONE", "HYDROCODONE/ACETAMINOPHEN 5/325MG TAB", "DRUG", 1.0),
    Allergen("TRAMADOL", "TRAMADOL HCL 50MG TAB", "DRUG", 0.8),
    Allergen("GABAPENTIN", "GABAPENTIN 300MG CAP", "DRUG", 0.6),
    Allergen("METFORMIN", "METFORMIN HCL 500MG TAB", "DRUG", 0.5),
    Allergen("NAPROXEN", "NAPROXEN 500MG TAB", "DRUG", 0.8),
    Allergen("HEPARIN", "HEPARIN NA 5000 UNIT/ML INJ", "DRUG", 0.4),
    Allergen("PEANUTS", "PEANUT", "FOOD", 1.5),
    Allergen("SHELLFISH", "SHRIMP", "FOOD", 2.0),
    Allergen("EGGS", "EGG", "FOOD", 0.6),
    Allergen("MILK", "DAIRY PRODUCTS", "FOOD", 0.6),
    Allergen("STRAWBERRIES", "STRAWBERRY", "FOOD", 0.4),
    Allergen("TREE NUTS", "WALNUTS", "FOOD", 0.6),
    Allergen("LATEX", "LATEX GLOVES", "ENVIRONMENTAL", 1.5),
    Allergen("BEE STINGS", "HONEY BEE VENOM", "ENVIRONMENTAL", 1.0),
    Allergen("POLLEN", "SEASONAL POLLEN", "ENVIRONMENTAL", 1.0),
    Allergen("DUST MITES", "HOUSE DUST", "ENVIRONMENTAL", 0.6),
    Allergen("ADHESIVE TAPE", "ADHESIVE TAPE", "ENVIRONMENTAL", 0.8),
)

#: 23 reactions: a prime number, so distinct reactions per allergy can be drawn by stride.
REACTIONS: tuple[tuple[str, float], ...] = (
    ("HIVES", 5.0), ("RASH", 6.0), ("ITCHING", 4.0), ("ANAPHYLAXIS", 1.0), ("NAUSEA", 3.0),
    ("VOMITING", 2.0), ("DIARRHEA", 1.5), ("SWELLING", 2.0), ("ANGIOEDEMA", 0.8),
    ("SHORTNESS OF BREATH", 1.5), ("WHEEZING", 1.2), ("DIZZINESS", 1.2), ("HEADACHE", 1.0),
    ("DROWSINESS", 0.8), ("CONFUSION", 0.5), ("HYPOTENSION", 0.6), ("MYALGIA", 0.8),
    ("COUGH", 1.0), ("ABDOMINAL PAIN", 1.0), ("FLUSHING", 0.8), ("LIP SWELLING", 0.6),
    ("THROAT TIGHTNESS", 0.6), ("CONSTIPATION", 0.5),
)  # fmt: skip

SEVERITIES = ("MILD", "MODERATE", "SEVERE")
SEVERITY_WEIGHTS = (0.42, 0.4, 0.18)
ALLERGY_COMMENTS = (
    None, None, None, "Patient reports reaction as a child.",
    "Reaction documented during prior admission.", "Per outside records.",
    "Tolerated related agent without reaction.",
)  # fmt: skip
VERIFICATION_STATUSES = ("VERIFIED", "UNVERIFIED")
