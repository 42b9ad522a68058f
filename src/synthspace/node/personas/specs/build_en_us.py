"""Build en_US.json, the United States persona spec, from compact cited inputs.

Run: python src/synthspace/node/personas/specs/build_en_us.py   (writes en_US.json beside this file)

Inputs are figures from the U.S. Census Bureau (2020 Census state populations, American
Community Survey 5-year tables) as remembered without network access: state populations are
2020 Census counts rounded to thousands; the other tables are rounded approximations of the
ACS shares and are marked `approximate: true`. Names come from the Census Bureau's 2010
surname file and the Social Security Administration's baby-name lists (ranked, approximate).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_common import given_name_table, rake, variable, write_spec

SOURCES = {
    "census2020_apportionment": {
        "title": "2020 Census: resident population of the 50 states and the District of Columbia (Table P1 / apportionment results)",
        "publisher": "U.S. Census Bureau", "url": "https://www.census.gov/programs-surveys/decennial-census/decade/2020/2020-census-results.html",
        "year": 2020, "official": True,
    },
    "acs_s0101": {
        "title": "American Community Survey 5-year estimates, Table S0101: Age and Sex",
        "publisher": "U.S. Census Bureau", "url": "https://data.census.gov/table/ACSST5Y2021.S0101", "year": 2021, "official": True,
    },
    "acs_s1201": {
        "title": "American Community Survey 5-year estimates, Table S1201: Marital Status",
        "publisher": "U.S. Census Bureau", "url": "https://data.census.gov/table/ACSST5Y2021.S1201", "year": 2021, "official": True,
    },
    "acs_s1501": {
        "title": "American Community Survey 5-year estimates, Table S1501 / B15001: Educational Attainment by sex and age",
        "publisher": "U.S. Census Bureau", "url": "https://data.census.gov/table/ACSST5Y2021.S1501", "year": 2021, "official": True,
    },
    "acs_s2301": {
        "title": "American Community Survey 5-year estimates, Table S2301: Employment Status (with S1401 School Enrollment)",
        "publisher": "U.S. Census Bureau", "url": "https://data.census.gov/table/ACSST5Y2021.S2301", "year": 2021, "official": True,
    },
    "acs_s2401": {
        "title": "American Community Survey 5-year estimates, Table S2401: Occupation by Sex (SOC 2018 groups)",
        "publisher": "U.S. Census Bureau", "url": "https://data.census.gov/table/ACSST5Y2021.S2401", "year": 2021, "official": True,
    },
    "census_surnames_2010": {
        "title": "Frequently Occurring Surnames from the 2010 Census",
        "publisher": "U.S. Census Bureau", "url": "https://www.census.gov/topics/population/genealogy/data/2010_surnames.html",
        "year": 2010, "official": True,
    },
    "ssa_baby_names": {
        "title": "Popular Baby Names by decade of birth (ranked lists)",
        "publisher": "U.S. Social Security Administration", "url": "https://www.ssa.gov/oact/babynames/decades/",
        "year": 2020, "official": True,
    },
}

REGIONS = {
    "Northeast": [("Connecticut", 3606), ("Maine", 1363), ("Massachusetts", 7030), ("New Hampshire", 1378), ("Rhode Island", 1097),
                  ("Vermont", 643), ("New Jersey", 9289), ("New York", 20201), ("Pennsylvania", 13003)],
    "Midwest": [("Illinois", 12813), ("Indiana", 6786), ("Michigan", 10077), ("Ohio", 11799), ("Wisconsin", 5894), ("Iowa", 3190),
                ("Kansas", 2938), ("Minnesota", 5706), ("Missouri", 6154), ("Nebraska", 1962), ("North Dakota", 779), ("South Dakota", 887)],
    "South": [("Delaware", 990), ("District of Columbia", 690), ("Florida", 21538), ("Georgia", 10712), ("Maryland", 6177),
              ("North Carolina", 10439), ("South Carolina", 5119), ("Virginia", 8631), ("West Virginia", 1794), ("Alabama", 5024),
              ("Kentucky", 4506), ("Mississippi", 2961), ("Tennessee", 6911), ("Arkansas", 3012), ("Louisiana", 4658),
              ("Oklahoma", 3959), ("Texas", 29146)],
    "West": [("Arizona", 7152), ("Colorado", 5774), ("Idaho", 1839), ("Montana", 1084), ("Nevada", 3105), ("New Mexico", 2118),
             ("Utah", 3272), ("Wyoming", 577), ("Alaska", 733), ("California", 39538), ("Hawaii", 1455), ("Oregon", 4237),
             ("Washington", 7705)],
}
REGION_NAMES = list(REGIONS)
STATES = [s for v in REGIONS.values() for s, _ in v]
REGION_POP = np.array([sum(n for _, n in v) for v in REGIONS.values()], dtype=float)

AGE_BANDS = ["18-24", "25-34", "35-44", "45-54", "55-64", "65-74", "75-84", "85+"]
AGE_POP = np.array([30.6, 45.0, 42.6, 40.3, 42.3, 32.6, 16.2, 6.1])  # millions, ACS S0101
REGION_AGE_TILT = {"Northeast": 0.08, "Midwest": 0.04, "South": -0.02, "West": -0.07}
BAND_SHAPE = np.array([-0.5, -0.4, -0.2, 0.0, 0.3, 0.5, 0.6, 0.6])
MALE_SHARE = [0.51, 0.505, 0.50, 0.495, 0.485, 0.47, 0.44, 0.37]
SEXES = ["Male", "Female"]

MARITAL = ["Never married", "Now married", "Separated", "Widowed", "Divorced"]
MARITAL_TABLE: dict[str, list[list[float]]] = {
    "Male": [[91, 8, 0.4, 0.1, 0.5], [55, 40, 1.2, 0.1, 3.7], [27, 61, 1.8, 0.3, 9.9], [18, 64, 2, 0.8, 15.2],
             [13, 65, 1.8, 2.5, 17.7], [8, 69, 1.3, 5.5, 16.2], [4, 71, 1, 13, 11], [3, 56, 0.7, 33, 7.3]],
    "Female": [[86, 12, 0.7, 0.1, 1.2], [46, 46, 1.8, 0.3, 5.9], [21, 61, 2.5, 0.9, 14.6], [14, 61, 2.5, 2.5, 20],
               [10, 58, 2, 7, 23], [7, 52, 1.3, 17, 22.7], [5, 38, 0.8, 39, 17.2], [4, 17, 0.4, 70, 8.6]],
}
EDUCATION = ["Less than 9th grade", "9th to 12th grade, no diploma", "High school graduate", "Some college, no degree",
             "Associate's degree", "Bachelor's degree", "Master's degree", "Professional degree", "Doctorate degree"]
EDUCATION_TABLE: dict[str, list[list[float]]] = {
    "Male": [[1.5, 13, 33, 40, 5, 7, 0.4, 0.05, 0.05], [2.5, 5.5, 28, 18, 8.5, 26, 8, 2, 1.5], [4, 5.5, 26, 15.5, 8.5, 25, 10, 3, 2.5],
             [4.5, 6, 29, 15.5, 9, 22, 9, 2.8, 2.2], [3.5, 6.5, 31, 17, 9, 20, 8.5, 2.5, 2], [4, 6, 28, 17, 8, 20, 10, 4, 3],
             [7, 8, 29, 15, 6, 18, 10, 4, 3], [11, 10, 31, 13, 5, 16, 8, 3.5, 2.5]],
    "Female": [[1, 10, 27, 45, 7, 9.5, 0.4, 0.05, 0.05], [2, 4.5, 22, 17, 10, 31, 10.5, 2, 1], [3.5, 4.5, 21, 15, 11, 28, 13, 2.5, 1.5],
               [4, 5, 25, 16, 12, 24, 11, 2, 1], [3.5, 5.5, 29, 18, 11, 20.5, 10, 1.5, 1], [4, 6, 31, 20, 9, 17, 10.5, 1.5, 1],
               [7, 9, 36, 18, 6.5, 13, 8.5, 1.2, 0.8], [12, 12, 37, 15, 5, 11, 6.5, 1, 0.5]],
}
REGION_BACHELOR_TILT = {"Northeast": 1.15, "Midwest": 0.95, "South": 0.92, "West": 1.05}

LIFE_STAGES = ["Student", "Employed", "Unemployed", "Retired", "Homemaker"]
LIFE_MEN: list[list[float]] = [[35, 55, 6, 0, 4], [5, 84, 4.5, 0.2, 6.3], [1.5, 87, 3.8, 0.5, 7.2], [0.5, 84, 3.5, 2, 10],
            [0.2, 68, 3, 17, 11.8], [0.1, 28, 1, 66, 4.9], [0, 10, 0.3, 86, 3.7], [0, 4, 0.1, 93, 2.9]]
LIFE_WOMEN_UNMARRIED: list[list[float]] = [[40, 52, 5, 0, 3], [6, 80, 4.5, 0.2, 9.3], [2, 79, 4, 0.5, 14.5], [0.7, 76, 3.3, 2.5, 17.5],
                        [0.3, 60, 2.8, 20, 16.9], [0.1, 24, 0.9, 66, 9], [0, 7, 0.2, 85, 7.8], [0, 2, 0, 92, 6]]
LIFE_WOMEN_MARRIED: list[list[float]] = [[22, 50, 4, 0, 24], [4, 70, 2.5, 0.2, 23.3], [1.5, 72, 2.2, 0.5, 23.8], [0.5, 73, 2, 2.5, 22],
                      [0.2, 58, 1.8, 18, 22], [0, 22, 0.5, 62, 15.5], [0, 6, 0.1, 80, 13.9], [0, 2, 0, 88, 10]]

# name|SOC major group|typical entry education (N none, H high school, P postsecondary, B bachelor's, G graduate)|men k|women k
OCCUPATIONS_TEXT = """
Chief executives|Management|B|1200|400
General and operations managers|Management|B|850|350
Marketing and sales managers|Management|B|600|550
Financial managers|Management|B|550|650
Computer and information systems managers|Management|B|500|180
Construction managers|Management|B|900|90
Education administrators|Management|G|300|600
Medical and health services managers|Management|B|200|500
Food service managers|Management|H|600|500
Property and real estate managers|Management|H|400|420
Farmers, ranchers, and other agricultural managers|Management|H|750|200
Accountants and auditors|Business and Financial Operations|B|750|1150
Management analysts|Business and Financial Operations|B|600|450
Human resources specialists|Business and Financial Operations|B|250|750
Project management specialists|Business and Financial Operations|B|500|400
Claims adjusters and investigators|Business and Financial Operations|H|120|230
Software developers|Computer and Mathematical|B|1700|380
Computer support specialists|Computer and Mathematical|P|500|160
Computer systems analysts|Computer and Mathematical|B|350|180
Data scientists|Computer and Mathematical|B|130|70
Network and computer systems administrators|Computer and Mathematical|B|190|40
Civil engineers|Architecture and Engineering|B|350|70
Mechanical engineers|Architecture and Engineering|B|320|35
Electrical and electronics engineers|Architecture and Engineering|B|300|40
Architects|Architecture and Engineering|B|150|60
Engineering technicians|Architecture and Engineering|P|300|70
Medical scientists|Life, Physical, and Social Science|G|80|80
Chemists and materials scientists|Life, Physical, and Social Science|B|60|40
Psychologists|Life, Physical, and Social Science|G|50|140
Social workers|Community and Social Service|B|130|650
Counselors|Community and Social Service|G|200|700
Clergy|Community and Social Service|G|350|80
Lawyers|Legal|G|650|450
Paralegals and legal assistants|Legal|P|60|350
Elementary and middle school teachers|Educational Instruction and Library|B|650|2900
Secondary school teachers|Educational Instruction and Library|B|400|600
Postsecondary teachers|Educational Instruction and Library|G|700|650
Preschool and kindergarten teachers|Educational Instruction and Library|P|30|700
Teaching assistants|Educational Instruction and Library|H|150|950
Librarians|Educational Instruction and Library|G|30|150
Designers|Arts, Design, Entertainment, Sports, and Media|B|400|450
Producers and directors|Arts, Design, Entertainment, Sports, and Media|B|120|70
Athletes, coaches, and umpires|Arts, Design, Entertainment, Sports, and Media|H|230|120
Writers and editors|Arts, Design, Entertainment, Sports, and Media|B|150|200
Musicians and singers|Arts, Design, Entertainment, Sports, and Media|H|150|50
Registered nurses|Healthcare Practitioners and Technical|B|400|2800
Physicians|Healthcare Practitioners and Technical|G|650|450
Pharmacists|Healthcare Practitioners and Technical|G|140|200
Physical therapists|Healthcare Practitioners and Technical|G|100|180
Dentists|Healthcare Practitioners and Technical|G|100|60
Nurse practitioners|Healthcare Practitioners and Technical|G|30|260
Licensed practical nurses|Healthcare Practitioners and Technical|P|60|580
Emergency medical technicians|Healthcare Practitioners and Technical|P|150|70
Nursing assistants|Healthcare Support|P|200|1200
Home health and personal care aides|Healthcare Support|H|300|1300
Medical assistants|Healthcare Support|P|40|500
Police officers|Protective Service|H|600|120
Security guards|Protective Service|H|650|200
Firefighters|Protective Service|P|300|20
Correctional officers|Protective Service|H|270|130
Cooks|Food Preparation and Serving Related|N|1300|750
Waiters and waitresses|Food Preparation and Serving Related|N|450|1250
Fast food and counter workers|Food Preparation and Serving Related|N|400|700
Bartenders|Food Preparation and Serving Related|N|200|250
Janitors and building cleaners|Building and Grounds Cleaning and Maintenance|N|1300|700
Maids and housekeeping cleaners|Building and Grounds Cleaning and Maintenance|N|120|1000
Grounds maintenance workers|Building and Grounds Cleaning and Maintenance|N|1200|80
Childcare workers|Personal Care and Service|H|60|950
Hairdressers and cosmetologists|Personal Care and Service|P|70|700
Fitness trainers|Personal Care and Service|H|200|200
Retail salespersons|Sales and Related|N|1600|1600
Cashiers|Sales and Related|N|900|2200
First-line supervisors of retail sales workers|Sales and Related|H|1700|1300
Sales representatives, wholesale and manufacturing|Sales and Related|H|950|350
Insurance sales agents|Sales and Related|H|300|300
Real estate agents|Sales and Related|H|450|550
Customer service representatives|Office and Administrative Support|H|750|1300
Secretaries and administrative assistants|Office and Administrative Support|H|200|2400
Office clerks|Office and Administrative Support|H|250|900
Bookkeeping and accounting clerks|Office and Administrative Support|H|150|850
Receptionists|Office and Administrative Support|H|100|900
Shipping and receiving clerks|Office and Administrative Support|H|500|250
Postal service mail carriers|Office and Administrative Support|H|200|120
Agricultural workers|Farming, Fishing, and Forestry|N|600|200
Construction laborers|Construction and Extraction|N|1900|70
Carpenters|Construction and Extraction|H|1000|25
Electricians|Construction and Extraction|H|850|20
Plumbers and pipefitters|Construction and Extraction|H|600|10
Painters|Construction and Extraction|N|500|40
Automotive service technicians and mechanics|Installation, Maintenance, and Repair|P|850|15
Maintenance and repair workers|Installation, Maintenance, and Repair|H|500|20
HVAC mechanics and installers|Installation, Maintenance, and Repair|P|400|8
Assemblers and fabricators|Production|H|700|350
Welders|Production|H|500|30
Machinists|Production|H|350|20
Inspectors, testers, and sorters|Production|H|450|250
Food processing workers|Production|N|350|250
Truck drivers|Transportation and Material Moving|H|3300|200
Laborers and freight, stock, and material movers|Transportation and Material Moving|N|1600|450
Stockers and order fillers|Transportation and Material Moving|N|1100|700
Bus drivers|Transportation and Material Moving|H|200|160
Taxi and rideshare drivers|Transportation and Material Moving|N|400|60
Aircraft pilots and flight engineers|Transportation and Material Moving|B|140|8
Industrial truck and tractor operators|Transportation and Material Moving|N|550|60
"""
OCCUPATIONS = [line.split("|") for line in OCCUPATIONS_TEXT.strip().splitlines()]
# Affinity of each education level (rows, EDUCATION order) for each typical entry level (approximate).
AFFINITY = {
    "N": [3, 2.5, 1.5, 1.0, 0.8, 0.35, 0.2, 0.15, 0.1],
    "H": [1.2, 1.5, 1.6, 1.4, 1.2, 0.6, 0.35, 0.25, 0.2],
    "P": [0.2, 0.4, 0.9, 1.5, 2.5, 0.8, 0.5, 0.4, 0.3],
    "B": [0.02, 0.05, 0.3, 0.7, 0.8, 2.2, 1.8, 1.2, 1.2],
    "G": [0, 0, 0.005, 0.02, 0.02, 0.3, 4, 8, 8],
}
NOT_EMPLOYED = {"Student": "(student)", "Unemployed": "(unemployed)", "Retired": "(retired)", "Homemaker": "(homemaker)"}

SURNAMES_TEXT = """Smith 2442 Johnson 1932 Williams 1625 Brown 1437 Jones 1425 Garcia 1166 Miller 1161 Davis 1116
Rodriguez 1094 Martinez 1060 Hernandez 1043 Lopez 874 Gonzalez 841 Wilson 801 Anderson 784 Thomas 756 Taylor 751
Moore 724 Jackson 708 Martin 702 Lee 693 Perez 681 Thompson 664 White 660 Harris 624 Sanchez 612 Clark 562
Ramirez 557 Lewis 531 Robinson 529 Walker 523 Young 484 Allen 482 King 465 Wright 458 Scott 439 Torres 437
Nguyen 437 Hill 434 Flores 433 Green 430 Adams 427 Nelson 424 Baker 419 Hall 407 Rivera 405 Campbell 371
Mitchell 367 Carter 362 Roberts 360"""
SURNAMES = list(zip(SURNAMES_TEXT.split()[0::2], (float(x) for x in SURNAMES_TEXT.split()[1::2]), strict=True))
GIVEN_NAMES: dict[str, list[str]] = {
    "Male": [
        "James Robert John William Charles George Joseph Richard Edward Donald Thomas Frank Harold Paul Raymond Walter Jack Henry Kenneth Arthur",
        "James Robert John Michael David William Richard Thomas Mark Charles Steven Gary Joseph Donald Ronald Kenneth Paul Larry Daniel Stephen",
        "Michael David James John Robert Christopher William Jason Joseph Brian Daniel Matthew Kevin Richard Thomas Jeffrey Eric Steven Mark Anthony",
        "Michael Christopher Matthew Joshua Jacob Nicholas Andrew Daniel Tyler Joseph Brandon David James Ryan John Zachary Justin William Anthony Jonathan",
    ],
    "Female": [
        "Mary Dorothy Helen Betty Margaret Ruth Virginia Doris Mildred Frances Elizabeth Evelyn Anna Marie Alice Jean Shirley Barbara Irene Marjorie",
        "Mary Linda Patricia Susan Deborah Barbara Debra Karen Nancy Donna Cynthia Sandra Pamela Sharon Kathleen Carol Diane Brenda Cheryl Elizabeth",
        "Jennifer Amy Melissa Michelle Lisa Kimberly Angela Heather Stephanie Nicole Jessica Elizabeth Rebecca Kelly Mary Christina Amanda Julie Sarah Laura",
        "Jessica Ashley Emily Sarah Samantha Amanda Brittany Elizabeth Taylor Megan Hannah Kayla Lauren Stephanie Rachel Jennifer Nicole Alexis Victoria Amber",
    ],
}
BAND_ERA = [3, 3, 2, 2, 1, 1, 0, 0]
AGE_RANGES = {"18-24": (18, 24), "25-34": (25, 34), "35-44": (35, 44), "45-54": (45, 54), "55-64": (55, 64),
              "65-74": (65, 74), "75-84": (75, 84), "85+": (85, 99)}


def build() -> dict:
    variables = []
    region_share = REGION_POP / REGION_POP.sum()
    variables.append(variable("region", "Census region", REGION_NAMES, [], [list(region_share)], ["census2020_apportionment"], True,
                              "Share of each Census region in the 2020 resident population; the adult share is taken equal "
                              "to the total share (approximation)."))
    cols = []
    for v in REGIONS.values():
        col = [0.0] * len(STATES)
        for state, pop in v:
            col[STATES.index(state)] = float(pop)
        cols.append(col)
    variables.append(variable("state", "State", STATES, ["region"], cols, ["census2020_apportionment"], True,
                              "50 states and DC weighted by 2020 Census population (thousands) within their region."))
    national = AGE_POP / AGE_POP.sum()
    seed = np.array([[region_share[r] * national[b] * (1 + REGION_AGE_TILT[name] * BAND_SHAPE[b]) for b in range(len(AGE_BANDS))]
                     for r, name in enumerate(REGION_NAMES)])
    joint = rake(seed, region_share, national)
    variables.append(variable("age_band", "Age group", AGE_BANDS, ["region"], [list(r / r.sum()) for r in joint], ["acs_s0101"], True,
                              "National adult age structure from ACS S0101 (rounded); regional tilt approximate, raked to keep the national margin."))
    variables.append(variable("sex", "Sex", SEXES, ["age_band"], [[m, 1 - m] for m in MALE_SHARE], ["acs_s0101"], True,
                              "Male share by age group, rounded from ACS S0101."))
    variables.append(variable("marital_status", "Marital status", MARITAL, ["sex", "age_band"],
                              [MARITAL_TABLE[s][b] for s in SEXES for b in range(len(AGE_BANDS))], ["acs_s1201"], True,
                              "Shares by sex and age group, rounded from ACS S1201."))
    bach = np.array([i >= 5 for i in range(len(EDUCATION))])
    rgb = joint / joint.sum(axis=0, keepdims=True)
    edu_cols = {}
    for s, sex in enumerate(SEXES):
        for b in range(len(AGE_BANDS)):
            nat = np.array(EDUCATION_TABLE[sex][b], dtype=float)
            nat /= nat.sum()
            w = rgb[:, b]
            tilt = np.array([[REGION_BACHELOR_TILT[r] if t else 1.0 for t in bach] for r in REGION_NAMES])
            fitted = rake(w[:, None] * nat[None, :] * tilt + 1e-12, w, nat)
            for r in range(len(REGION_NAMES)):
                edu_cols[(r, s, b)] = list(fitted[r] / fitted[r].sum())
    variables.append(variable("education", "Educational attainment", EDUCATION, ["region", "sex", "age_band"],
                              [edu_cols[(r, s, b)] for r in range(len(REGION_NAMES)) for s in range(2) for b in range(len(AGE_BANDS))],
                              ["acs_s1501"], True,
                              "ACS S1501/B15001 attainment by sex and age (nine levels, rounded); regional bachelor's-or-higher "
                              "tilt approximate, raked to keep national shares. For 18-24, 'Some college' includes enrolled students."))
    life = []
    for sex in SEXES:
        for b in range(len(AGE_BANDS)):
            for m in MARITAL:
                if sex == "Male":
                    life.append(LIFE_MEN[b])
                elif m == "Now married":
                    life.append(LIFE_WOMEN_MARRIED[b])
                elif m == "Separated":
                    life.append([(x + y) / 2 for x, y in zip(LIFE_WOMEN_MARRIED[b], LIFE_WOMEN_UNMARRIED[b], strict=True)])
                else:
                    life.append(LIFE_WOMEN_UNMARRIED[b])
    variables.append(variable("life_stage", "Life stage", LIFE_STAGES, ["sex", "age_band", "marital_status"], life, ["acs_s2301"], True,
                              "Employment-population ratios and unemployment rates by sex and age (ACS S2301), school enrolment "
                              "(S1401), retirement and homemaking shares of those not in the labour force: approximate."))
    occ_names = [o[0] for o in OCCUPATIONS] + list(NOT_EMPLOYED.values())
    occ_cols = []
    for s, _sex in enumerate(SEXES):
        for e in range(len(EDUCATION)):
            employed = [float(o[3 + s]) * AFFINITY[o[2]][e] for o in OCCUPATIONS]
            for stage in LIFE_STAGES:
                if stage == "Employed":
                    occ_cols.append(employed + [0.0] * len(NOT_EMPLOYED))
                else:
                    col = [0.0] * len(occ_names)
                    col[occ_names.index(NOT_EMPLOYED[stage])] = 1.0
                    occ_cols.append(col)
    variables.append(variable("occupation", "Occupation", occ_names, ["sex", "education", "life_stage"], occ_cols,
                              ["acs_s2401"], True,
                              f"{len(OCCUPATIONS)} detailed SOC 2018 occupations weighted by approximate ACS employment counts by "
                              "sex, scaled by an approximate affinity between education level and the occupation's typical entry education."))
    variables.append(variable("surname", "Surname", [s for s, _ in SURNAMES], [], [[w for _, w in SURNAMES]], ["census_surnames_2010"], True,
                              "The 50 most frequent surnames of the 2010 Census with their counts (thousands), renormalised over this list."))
    given_states, given_cols = given_name_table(SEXES, GIVEN_NAMES, [BAND_ERA[b] for b in range(len(AGE_BANDS))])
    variables.append(variable("given_name", "Given name", given_states, ["sex", "age_band"], given_cols, ["ssa_baby_names"], True,
                              "Top-20 SSA names of the birth decades of each age group; weights 1/(rank+2) stand in for counts."))
    weights = {band: {str(a): 1.0 for a in range(lo, hi + 1)} for band, (lo, hi) in AGE_RANGES.items()}
    weights["85+"] = {str(a): round(0.85 ** (a - 85), 4) for a in range(85, 100)}
    mapping = {o[0]: o[1] for o in OCCUPATIONS}
    mapping.update({v: "Not employed" for v in NOT_EMPLOYED.values()})
    return {
        "format": "synthspace-persona-spec/v1", "locale": "en_US", "language": "en", "country": "United States",
        "title": "US adults (18+): a Bayesian network over 2020 Census and American Community Survey tables",
        "description": "Same structure as ja_JP: region -> state; region -> age_band -> sex; (sex, age_band) -> marital_status; "
                       "(region, sex, age_band) -> education; (sex, age_band, marital_status) -> life_stage; (sex, education, "
                       "life_stage) -> occupation; surname; (sex, age_band) -> given_name.",
        "reference_date": "2020-04-01", "sources": SOURCES, "variables": variables,
        "derived": [
            {"kind": "age_from_band", "name": "age", "source_variable": "age_band", "weights": weights, "sources": ["acs_s0101"],
             "approximate": True, "notes": "Uniform within bands; 85+ decays geometrically to 99 (approximate)."},
            {"kind": "mapping", "name": "occupation_group", "label": "SOC major group", "source_variable": "occupation",
             "mapping": mapping, "sources": ["acs_s2401"], "approximate": False, "notes": "SOC 2018 major group."},
        ],
    }


if __name__ == "__main__":
    write_spec(build(), Path(__file__).resolve().parent / "en_US.json")
