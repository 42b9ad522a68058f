"""Build ja_JP.json, the Japanese persona spec, from compact cited inputs.

Run: python src/synthspace/node/personas/specs/build_ja_jp.py   (writes ja_JP.json beside this file)

The inputs below are figures from the Statistics Bureau of Japan's 2020 Census (令和2年国勢調査)
and Labour Force Survey (労働力調査) as remembered without network access: prefecture
populations are the census totals rounded to thousands; every other table is an approximation
of the published shares (rounded, smoothed or tilted as each table's `notes` say), and is marked
`approximate: true` in the spec. Names come from unofficial frequency rankings and say so.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_common import given_name_table, rake, variable, write_spec

SOURCES = {
    "census2020_population": {
        "title": "令和2年国勢調査 人口等基本集計 (2020 Census, Basic Complete Tabulation on Population): 都道府県別人口, 男女・年齢(5歳階級)別人口",
        "publisher": "総務省統計局 Statistics Bureau of Japan",
        "url": "https://www.stat.go.jp/data/kokusei/2020/",
        "year": 2020,
        "official": True,
    },
    "census2020_marital": {
        "title": "令和2年国勢調査 人口等基本集計: 男女・年齢(5歳階級)・配偶関係別人口 (15歳以上)",
        "publisher": "総務省統計局 Statistics Bureau of Japan",
        "url": "https://www.stat.go.jp/data/kokusei/2020/",
        "year": 2020,
        "official": True,
    },
    "census2020_education": {
        "title": "令和2年国勢調査 就業状態等基本集計: 在学か否かの別・最終卒業学校の種類(小学校・中学校/高校・旧中/専門学校/短大・高専/大学/大学院), 男女・年齢別",
        "publisher": "総務省統計局 Statistics Bureau of Japan",
        "url": "https://www.stat.go.jp/data/kokusei/2020/",
        "year": 2020,
        "official": True,
    },
    "school_basic_survey": {
        "title": "学校基本調査 (School Basic Survey): 短期大学・高等専門学校, 修士課程・博士課程の卒業者数 (used to split census classes)",
        "publisher": "文部科学省 Ministry of Education, Culture, Sports, Science and Technology",
        "url": "https://www.mext.go.jp/b_menu/toukei/chousa01/kihon/1267995.htm",
        "year": 2020,
        "official": True,
    },
    "census2020_occupation": {
        "title": "令和2年国勢調査 就業状態等基本集計: 職業(大分類・小分類)・男女別就業者数; 職業(大分類)×最終卒業学校",
        "publisher": "総務省統計局 Statistics Bureau of Japan",
        "url": "https://www.stat.go.jp/data/kokusei/2020/",
        "year": 2020,
        "official": True,
    },
    "jsoc2009": {
        "title": "日本標準職業分類 (平成21年12月統計基準設定) Japan Standard Occupational Classification, major groups A-L",
        "publisher": "総務省 Ministry of Internal Affairs and Communications",
        "url": "https://www.soumu.go.jp/toukei_toukatsu/index/seido/shokgyou/index09.htm",
        "year": 2009,
        "official": True,
    },
    "lfs2020": {
        "title": "労働力調査 基本集計 2020年平均: 年齢階級別就業率・完全失業率, 非労働力人口(通学・家事・その他)",
        "publisher": "総務省統計局 Statistics Bureau of Japan",
        "url": "https://www.stat.go.jp/data/roudou/",
        "year": 2020,
        "official": True,
    },
    "surname_ranking": {
        "title": "全国同姓調査 / 名字ランキング (surname frequency ranking; counts rounded)",
        "publisher": "明治安田生命 / 名字由来net (not an official statistic)",
        "url": "https://myoji-yurai.net/prefectureRanking.htm",
        "year": 2018,
        "official": False,
    },
    "given_name_ranking": {
        "title": "生まれ年別 名前ランキング (given-name rankings by birth year)",
        "publisher": "明治安田生命 (not an official statistic)",
        "url": "https://www.meijiyasuda.co.jp/enjoy/ranking/",
        "year": 2020,
        "official": False,
    },
}

# --- region and prefecture -------------------------------------------------------------------
# 2020 Census population (thousands). Eight-region division (八地方区分).
REGIONS: dict[str, list[tuple[str, int]]] = {
    "北海道地方": [("北海道", 5225)],
    "東北地方": [("青森県", 1238), ("岩手県", 1211), ("宮城県", 2302), ("秋田県", 960), ("山形県", 1068), ("福島県", 1833)],
    "関東地方": [("茨城県", 2867), ("栃木県", 1933), ("群馬県", 1939), ("埼玉県", 7345), ("千葉県", 6284), ("東京都", 14048), ("神奈川県", 9237)],
    "中部地方": [("新潟県", 2201), ("富山県", 1035), ("石川県", 1133), ("福井県", 767), ("山梨県", 810), ("長野県", 2048), ("岐阜県", 1979), ("静岡県", 3633), ("愛知県", 7542)],
    "近畿地方": [("三重県", 1770), ("滋賀県", 1414), ("京都府", 2578), ("大阪府", 8838), ("兵庫県", 5465), ("奈良県", 1324), ("和歌山県", 923)],
    "中国地方": [("鳥取県", 553), ("島根県", 671), ("岡山県", 1888), ("広島県", 2800), ("山口県", 1342)],
    "四国地方": [("徳島県", 720), ("香川県", 950), ("愛媛県", 1335), ("高知県", 692)],
    "九州・沖縄地方": [("福岡県", 5135), ("佐賀県", 811), ("長崎県", 1312), ("熊本県", 1738), ("大分県", 1124), ("宮崎県", 1070), ("鹿児島県", 1588), ("沖縄県", 1467)],
}
REGION_NAMES = list(REGIONS)
PREFECTURES = [p for prefs in REGIONS.values() for p, _ in prefs]
REGION_POP = np.array([sum(n for _, n in prefs) for prefs in REGIONS.values()], dtype=float)

# --- age ------------------------------------------------------------------------------------
# 2020 Census population by 5-year age group (thousands, both sexes).
AGE5 = {
    "15-19": 5619, "20-24": 6320, "25-29": 6269, "30-34": 6734, "35-39": 7619, "40-44": 8524,
    "45-49": 9764, "50-54": 8740, "55-59": 7916, "60-64": 7428, "65-69": 8200, "70-74": 9193,
    "75-79": 7017, "80-84": 5409, "85-89": 3706, "90-94": 1723, "95-99": 443, "100-104": 80,
}
AGE_BANDS = ["18-19", "20-29", "30-39", "40-49", "50-59", "60-69", "70-79", "80-89", "90+"]


def single_year_weights() -> dict[str, dict[str, float]]:
    """Per 10-year band, single-year weights spread evenly within each 5-year census group."""
    per_year: dict[int, float] = {}
    for group, total in AGE5.items():
        lo, hi = (int(x) for x in group.split("-"))
        if group == "100-104":  # centenarians thin out fast: geometric within the group
            shares = np.array([0.5, 0.25, 0.13, 0.08, 0.04])
            for i, a in enumerate(range(lo, hi + 1)):
                per_year[a] = total * float(shares[i] / shares.sum())
            continue
        for a in range(lo, hi + 1):
            per_year[a] = total / (hi - lo + 1)
    bands = {}
    for band in AGE_BANDS:
        lo, hi = (18, 19) if band == "18-19" else ((90, 104) if band == "90+" else tuple(int(x) for x in band.split("-")))
        bands[band] = {str(a): round(per_year[a], 3) for a in range(lo, hi + 1)}
    return bands


AGE_YEARS = single_year_weights()
NATIONAL_AGE = np.array([sum(AGE_YEARS[b].values()) for b in AGE_BANDS])
# Relative tilt of the age structure by region (positive = older): derived from the 2020 share
# of people aged 65+ (national 28.6%, Tokyo 22.7%, Akita 37.5%); approximate.
REGION_AGE_TILT = {"北海道地方": 0.16, "東北地方": 0.17, "関東地方": -0.14, "中部地方": 0.03, "近畿地方": 0.0, "中国地方": 0.13, "四国地方": 0.2, "九州・沖縄地方": 0.08}
BAND_AGE_SHAPE = np.array([-0.5, -0.5, -0.4, -0.25, 0.0, 0.3, 0.5, 0.6, 0.6])

# --- sex by age band: males per 100 females (2020 Census, rounded) ---------------------------
SEX_RATIO = [105.0, 104.5, 102.5, 102.0, 100.5, 96.5, 88.0, 68.0, 38.0]
SEXES = ["男性", "女性"]

# --- marital status by sex x age band (2020 Census, % rounded, unknown excluded) ------------
MARITAL = ["未婚", "有配偶", "死別", "離別"]
MARITAL_TABLE: dict[str, list[list[float]]] = {
    "男性": [[99.5, 0.5, 0.0, 0.0], [86.2, 13.1, 0.02, 0.7], [45.0, 52.0, 0.1, 2.9], [30.5, 63.5, 0.3, 5.7],
           [23.0, 68.0, 0.9, 8.1], [14.0, 75.0, 2.8, 8.2], [5.0, 83.0, 6.5, 5.5], [2.0, 78.0, 17.0, 3.0],
           [1.5, 55.0, 41.5, 2.0]],
    "女性": [[99.0, 0.9, 0.0, 0.1], [80.0, 18.5, 0.05, 1.45], [33.0, 61.5, 0.3, 5.2], [20.5, 69.0, 1.0, 9.5],
           [14.5, 71.5, 3.0, 11.0], [8.0, 71.0, 10.0, 11.0], [4.5, 59.0, 29.0, 7.5], [3.5, 33.0, 60.0, 3.5],
           [3.0, 10.0, 85.0, 2.0]],
}

# --- education by sex x age band (2020 Census classes split with the School Basic Survey) ---
EDUCATION = ["中学校", "高校", "専門学校", "短大", "高専", "大学", "大学院(修士)", "大学院(博士)"]
EDUCATION_TABLE: dict[str, list[list[float]]] = {
    "男性": [[3, 36, 14, 1, 3, 43, 0, 0], [4, 27, 14, 1, 2.5, 45, 6, 0.5], [5, 30, 14, 1, 2.5, 40, 6.5, 1.0],
           [5, 35, 12, 1, 2.5, 38, 5.5, 1.0], [5, 40, 8, 1.5, 2.5, 38, 4, 1.0], [10, 46, 5, 1.5, 2.0, 32, 2.8, 0.7],
           [22, 45, 3, 1.5, 1.5, 24, 2.3, 0.7], [42, 34, 2, 1.5, 1.0, 17, 1.8, 0.7], [55, 26, 1.5, 1.5, 1.0, 13, 1.5, 0.5]],
    "女性": [[2.5, 30, 19, 6, 1, 41.5, 0, 0], [3, 22, 20, 7, 0.7, 44, 3, 0.3], [3.5, 24, 20, 12, 0.5, 37, 2.6, 0.4],
           [3.5, 30, 18, 20, 0.3, 26, 1.8, 0.4], [4, 40, 12, 22, 0.2, 20.5, 1.0, 0.3], [11, 52, 7, 16, 0.1, 13.2, 0.5, 0.2],
           [26, 52, 4, 9, 0.1, 8.5, 0.3, 0.1], [50, 38, 2.5, 4.5, 0.1, 4.7, 0.15, 0.05], [65, 27, 1.5, 3, 0.1, 3.3, 0.05, 0.05]],
}
# Regional tilt of university/graduate attainment (census prefecture tables; approximate).
REGION_TERTIARY_TILT = {"北海道地方": 0.8, "東北地方": 0.75, "関東地方": 1.25, "中部地方": 0.95, "近畿地方": 1.1, "中国地方": 0.9, "四国地方": 0.85, "九州・沖縄地方": 0.8}

# --- life stage by sex x age band x marital status (Labour Force Survey 2020, approximate) ---
LIFE_STAGES = ["学生", "就業者", "求職者", "退職者", "主婦・主夫"]
LIFE_MEN: list[list[float]] = [[70, 25, 3.5, 0, 1.5], [18, 75, 5, 0, 2], [0.7, 93, 4, 0, 2.3], [0.3, 93.5, 3.5, 0.5, 2.2],
            [0.2, 92, 3.3, 2.0, 2.5], [0.1, 72, 3.5, 22, 2.4], [0.05, 34, 1.2, 62.5, 2.25],
            [0, 13, 0.3, 84, 2.7], [0, 5, 0.1, 92, 2.9]]
LIFE_WOMEN_UNMARRIED: list[list[float]] = [[72, 23, 2, 0, 3], [20, 73, 3.5, 0, 3.5], [0.8, 86, 4, 0, 9.2], [0.3, 84, 3.5, 0.5, 11.7],
                        [0.2, 79, 3, 2.5, 15.3], [0, 55, 2, 26, 17], [0, 25, 0.5, 52, 22.5], [0, 8, 0.2, 62, 29.8],
                        [0, 2, 0.1, 66, 31.9]]
LIFE_WOMEN_MARRIED: list[list[float]] = [[30, 30, 2, 0, 38], [5, 62, 2, 0, 31], [0.5, 66, 2, 0, 31.5], [0.3, 74, 1.7, 0.2, 23.8],
                      [0.2, 72, 1.5, 1.5, 24.8], [0, 50, 1, 14, 35], [0, 22, 0.3, 30, 47.7], [0, 6, 0.1, 44, 49.9],
                      [0, 2, 0, 55, 43]]

# --- occupations: JSOC major groups A-L with detailed occupations ----------------------------
# Employed persons, thousands, men|women (2020 Census small-category counts, rounded; approximate).
GROUPS = {
    "A": "A 管理的職業従事者", "B": "B 専門的・技術的職業従事者", "C": "C 事務従事者", "D": "D 販売従事者",
    "E": "E サービス職業従事者", "F": "F 保安職業従事者", "G": "G 農林漁業従事者", "H": "H 生産工程従事者",
    "I": "I 輸送・機械運転従事者", "J": "J 建設・採掘従事者", "K": "K 運搬・清掃・包装等従事者", "L": "L 分類不能の職業",
}
OCCUPATIONS_TEXT = """
A|議会議員|30|5
A|管理的国家公務員|25|2
A|管理的地方公務員|45|6
A|会社役員|700|140
A|独立行政法人等の役員|3|0.5
A|その他の法人・団体役員|60|20
A|会社管理職員|480|60
A|独立行政法人等の管理職員|10|2
A|その他の法人・団体管理職員|70|25
A|その他の管理的職業従事者|20|5
B|自然科学系研究者|100|25
B|人文・社会科学系等研究者|10|5
B|農林水産技術者|20|4
B|食品技術者|15|6
B|電気・電子・電気通信技術者|230|15
B|機械技術者|200|10
B|輸送用機器技術者|90|5
B|金属技術者|20|1
B|化学技術者|50|10
B|建築技術者|160|20
B|土木・測量技術者|250|15
B|システムコンサルタント・設計者|280|60
B|ソフトウェア作成者|320|70
B|その他の情報処理・通信技術者|170|50
B|その他の技術者|80|15
B|医師|240|80
B|歯科医師|75|25
B|獣医師|25|10
B|薬剤師|90|160
B|保健師|2|55
B|助産師|0|35
B|看護師|90|1200
B|准看護師|10|260
B|診療放射線技師|40|12
B|臨床工学技士|20|8
B|臨床検査技師|20|50
B|理学療法士|100|70
B|作業療法士|30|60
B|視能訓練士・言語聴覚士|5|25
B|歯科衛生士|1|140
B|歯科技工士|25|10
B|栄養士・管理栄養士|10|150
B|あん摩マッサージ指圧師・はり師・きゅう師|50|30
B|柔道整復師|50|10
B|保育士|30|560
B|福祉相談・指導専門員|40|60
B|福祉施設指導専門員|50|110
B|その他の社会福祉専門職業従事者|20|40
B|裁判官・検察官・弁護士|40|10
B|弁理士・司法書士|20|5
B|その他の法務従事者|10|5
B|公認会計士・税理士|80|20
B|社会保険労務士|10|10
B|金融・保険専門職業従事者|60|30
B|その他の経営・金融・保険専門職業従事者|60|30
B|幼稚園教員|5|80
B|小学校教員|140|270
B|中学校教員|140|110
B|高等学校教員|160|80
B|特別支援学校教員|30|50
B|大学教員|140|50
B|その他の教員|80|70
B|宗教家|40|10
B|著述家|10|8
B|記者・編集者|60|40
B|彫刻家・画家・工芸美術家|20|15
B|デザイナー|100|110
B|写真家・映像撮影者|35|10
B|音楽家|15|20
B|舞踊家・俳優・演出家・演芸家|10|10
B|図書館司書・学芸員|5|30
B|個人教師|30|100
B|スポーツ選手・指導者|40|20
B|カウンセラー|5|10
C|総務事務員|600|1100
C|人事係事務員|80|120
C|企画事務員|200|150
C|受付・案内事務員|20|230
C|秘書|5|60
C|電話応接事務員|20|120
C|総合事務員|300|1100
C|その他の一般事務従事者|300|600
C|会計事務従事者|250|1000
C|生産関連事務従事者|300|250
C|営業・販売事務従事者|500|700
C|外勤事務従事者|60|40
C|運輸・郵便事務従事者|250|150
C|事務用機器操作員|40|250
C|医療・介護事務員|40|500
C|銀行等窓口事務員|10|120
C|学校事務員|30|90
C|法務事務員|10|30
D|小売店主・店長|350|150
D|卸売店主・店長|60|10
D|販売店員|600|1300
D|レジ係|40|350
D|商品訪問・移動販売従事者|30|20
D|再生資源回収・卸売従事者|20|3
D|商品仕入外交員|30|10
D|不動産仲介・売買人|70|30
D|保険代理・仲立人|30|20
D|有価証券売買・仲立人|10|3
D|その他の販売類似職業従事者|30|20
D|食品営業職業従事者|150|40
D|化学品営業職業従事者|80|30
D|医薬品営業職業従事者|50|15
D|機械器具営業職業従事者|250|30
D|通信・情報システム営業職業従事者|100|20
D|金融・保険営業職業従事者|150|280
D|不動産営業職業従事者|120|30
D|その他の営業職業従事者|500|150
E|家政婦・家事手伝い|2|20
E|介護職員|350|1200
E|訪問介護従事者|30|250
E|看護助手|20|150
E|歯科助手|1|120
E|その他の保健医療サービス職業従事者|20|60
E|理容師|70|40
E|美容師|60|350
E|美容サービス従事者|10|150
E|浴場従事者|10|10
E|クリーニング職|20|30
E|調理人|500|700
E|バーテンダー|20|10
E|飲食物給仕従事者|250|700
E|接客社交従事者|30|60
E|娯楽場等接客員|50|40
E|旅館・ホテル・乗物接客員|30|60
E|飲食店主・店長|130|60
E|旅館主・支配人|10|10
E|居住施設・ビル等管理人|120|60
E|駐車場管理人|30|3
E|旅行・観光案内人|5|10
E|葬儀師・火葬係|20|5
E|その他のサービス職業従事者|80|80
F|自衛官|230|15
F|警察官|280|30
F|看守|15|2
F|消防員|160|5
F|警備員|330|30
F|海上保安官|13|1
F|その他の保安職業従事者|10|2
G|農耕従事者|900|500
G|養畜従事者|50|30
G|植木職・造園師|80|10
G|その他の農業従事者|30|20
G|育林従事者|20|2
G|伐木・造材・集材従事者|20|1
G|その他の林業従事者|5|1
G|漁労従事者|110|10
G|漁労船の船長・航海士・機関長|10|0.2
G|海藻・貝採取従事者|10|5
G|水産養殖従事者|20|5
H|生産設備制御・監視従事者(金属材料)|20|1
H|生産設備制御・監視従事者(化学製品)|40|3
H|生産設備制御・監視従事者(機械組立)|30|3
H|製銑・製鋼・非鉄金属製錬従事者|30|1
H|鋳物製造・鍛造従事者|30|2
H|金属工作機械作業従事者|200|20
H|金属プレス従事者|70|15
H|鉄工・製缶従事者|40|1
H|板金従事者|50|2
H|金属彫刻・表面処理従事者|40|10
H|金属溶接・溶断従事者|150|5
H|その他の金属製品製造・加工処理従事者|80|20
H|化学製品製造従事者|60|15
H|窯業・土石製品製造従事者|50|15
H|食料品製造従事者|250|500
H|菓子・パン製造従事者|60|120
H|飲料・たばこ製造従事者|20|10
H|紡織・衣服・繊維製品製造従事者|40|150
H|木・紙製品製造従事者|60|30
H|印刷・製本従事者|70|30
H|ゴム・プラスチック製品製造従事者|100|60
H|半導体製品製造従事者|40|30
H|はん用・生産用・業務用機械器具組立従事者|200|40
H|電気機械器具組立従事者|150|150
H|自動車組立従事者|180|30
H|輸送機械組立従事者(自動車を除く)|40|5
H|計量計測機器・光学機械器具組立従事者|20|20
H|機械整備・修理従事者(自動車を除く)|150|5
H|自動車整備・修理従事者|250|5
H|電気機械器具整備・修理従事者|60|5
H|金属製品検査従事者|40|15
H|化学製品検査従事者|15|10
H|機械検査従事者|80|50
H|塗装・画工・看板制作従事者|60|10
H|製図・その他の生産関連作業従事者|40|20
H|その他の製造・加工処理従事者|100|100
I|電車運転士|30|1
I|車掌・その他の鉄道運輸従事者|30|3
I|自家用乗用自動車運転者|30|2
I|自家用貨物自動車運転者|200|10
I|バス運転者|100|3
I|タクシー運転者|230|10
I|トラック運転者|700|20
I|その他の自動車運転従事者|20|1
I|船長・航海士(漁労船を除く)|20|0.3
I|船舶機関長・機関士|10|0.1
I|航空機操縦士|7|0.1
I|その他の輸送従事者|20|5
I|発電員・変電員|20|1
I|ボイラー・オペレーター|20|1
I|クレーン・巻上機運転従事者|50|1
I|建設・さく井機械運転従事者|100|1
I|その他の定置・建設機械運転従事者|30|2
J|型枠大工|40|0.3
J|とび職|80|1
J|鉄筋作業従事者|30|0.3
J|大工|280|3
J|ブロック積・タイル張従事者|20|0.5
J|屋根ふき従事者|15|0.2
J|左官|60|1
J|畳職|10|1
J|配管従事者|200|3
J|内装工|50|5
J|土木従事者|250|10
J|鉄道線路工事従事者|10|0.2
J|電気工事従事者|270|8
J|ダム・トンネル掘削従事者|5|0.1
J|採掘従事者|10|0.3
J|その他の建設従事者|100|5
K|郵便・電報外務員|90|10
K|船内・沿岸荷役従事者|20|1
K|陸上荷役・運搬従事者|350|100
K|倉庫作業従事者|150|100
K|配達員|150|50
K|荷造従事者|30|30
K|ビル・建物清掃員|150|450
K|ハウスクリーニング職|10|40
K|道路・公園清掃員|30|10
K|ごみ・し尿処理従事者|80|5
K|産業廃棄物処理従事者|40|5
K|包装従事者|50|250
K|選別作業員|20|60
K|その他の運搬・清掃・包装等従事者|80|100
L|分類不能の職業|1|1
"""
OCCUPATIONS = [line.split("|") for line in OCCUPATIONS_TEXT.strip().splitlines()]
# Share of the employed in each major group by sex (LFS 2020 / 2020 Census, %, approximate).
GROUP_SHARE = {
    "男性": {"A": 3.2, "B": 16.5, "C": 15.0, "D": 13.5, "E": 7.5, "F": 3.4, "G": 3.5, "H": 17.5, "I": 5.6, "J": 7.6, "K": 6.7, "L": 1.5},
    "女性": {"A": 0.6, "B": 22.5, "C": 28.0, "D": 12.5, "E": 19.0, "F": 0.4, "G": 2.5, "H": 9.5, "I": 0.2, "J": 0.3, "K": 8.5, "L": 1.5},
}
# Relative propensity of each education level for each major group (from the census cross
# table of major group by final school; smoothed, approximate).
EDU_GROUP_PROPENSITY = {
    "中学校": [0.3, 0.15, 0.35, 0.7, 1.4, 0.6, 3.0, 1.7, 1.9, 2.4, 2.2, 1.2],
    "高校": [0.7, 0.45, 0.9, 1.0, 1.2, 1.1, 1.3, 1.4, 1.4, 1.3, 1.3, 1.0],
    "専門学校": [0.6, 1.3, 0.8, 0.9, 1.5, 0.8, 0.7, 0.8, 0.8, 0.9, 0.7, 1.0],
    "短大": [0.6, 1.1, 1.3, 1.0, 1.0, 0.5, 0.5, 0.6, 0.4, 0.4, 0.6, 1.0],
    "高専": [1.0, 1.8, 0.8, 0.6, 0.4, 0.6, 0.5, 1.3, 0.7, 1.0, 0.4, 1.0],
    "大学": [1.8, 1.6, 1.25, 1.15, 0.6, 1.0, 0.4, 0.45, 0.4, 0.5, 0.3, 1.0],
    "大学院(修士)": [2.2, 3.2, 0.9, 0.5, 0.25, 0.4, 0.2, 0.35, 0.15, 0.2, 0.15, 1.0],
    "大学院(博士)": [2.5, 4.5, 0.5, 0.25, 0.15, 0.2, 0.1, 0.15, 0.05, 0.1, 0.05, 1.0],
}
# Detailed occupations that need a particular degree: weight scaled by education (approximate).
DEGREE_BOUND = {
    "医師": "大学", "歯科医師": "大学", "獣医師": "大学", "薬剤師": "大学", "裁判官・検察官・弁護士": "大学",
    "大学教員": "大学院(修士)", "自然科学系研究者": "大学院(修士)", "人文・社会科学系等研究者": "大学院(修士)",
    "小学校教員": "大学", "中学校教員": "大学", "高等学校教員": "大学", "特別支援学校教員": "大学",
    "公認会計士・税理士": "大学", "弁理士・司法書士": "大学",
}
NOT_EMPLOYED = {"学生": "学生", "求職者": "無職(求職中)", "退職者": "無職(退職)", "主婦・主夫": "専業主婦・主夫"}

# --- names ----------------------------------------------------------------------------------
SURNAMES_TEXT = """佐藤 187 鈴木 179 高橋 141 田中 133 伊藤 107 渡辺 106 山本 107 中村 104 小林 101 加藤 89
吉田 84 山田 81 佐々木 67 山口 63 松本 62 井上 61 木村 57 林 53 斎藤 53 清水 52 山崎 48 森 47 池田 44
橋本 44 阿部 45 石川 43 山下 42 中島 41 石井 41 小川 41 前田 40 岡田 40 長谷川 40 藤田 40 後藤 39 近藤 38
村上 37 遠藤 36 青木 35 坂本 35 斉藤 35 福田 34 太田 34 西村 33 藤井 33 金子 32 岡本 32 藤原 32 中野 31
三浦 31 原田 31 中川 31 松田 30 竹内 30 小野 30 田村 30 中山 29 和田 29 石田 29 森田 28 上田 28 原 28
内田 28 柴田 27 酒井 27 宮崎 27 横山 27 高木 27 安藤 26 宮本 26 大野 26 小島 26 谷口 25 今井 25 工藤 25
高田 25 増田 25 丸山 25 杉山 25 村田 24 大塚 24 小山 24 平野 24 藤本 24 河野 24 上野 23 野口 23 武田 23
松井 23 千葉 23 岩崎 23 菅原 22 木下 22 久保 22 佐野 22 野村 22 松尾 22 市川 21 菊地 21 杉本 21 古川 21
大西 20 島田 20 水野 20 桜井 20 高野 20 渡部 20 吉川 20 山内 19 西田 19 飯田 19 菊池 19 西川 19 小松 19
北村 19 安田 19 五十嵐 18 川口 18 平田 18 関 18 中田 18 久保田 18 服部 18 東 18 岩田 18 土屋 17 川崎 17
福島 17 本田 17 辻 17 樋口 17 秋山 17 田口 17 永井 17 山中 17 中西 17 吉村 17 川上 16 石原 16 大橋 16
松岡 16 馬場 16 浅野 16 荒木 16 大久保 16 野田 16 小池 16 田辺 16 比嘉 10 金城 8"""
SURNAMES = list(zip(SURNAMES_TEXT.split()[0::2], (float(x) for x in SURNAMES_TEXT.split()[1::2]), strict=True))
# Popular names by birth era (ranked; weights 1/(rank+2)). Eras: born <=1950, 1951-70, 1971-90, 1991-2002.
GIVEN_NAMES: dict[str, list[str]] = {
    "男性": [
        "清 茂 博 実 勇 進 弘 隆 正 稔 武 昭 修 和夫 正男 一郎 三郎 勝 正雄 豊",
        "誠 浩 修 博 隆 健一 秀樹 浩二 剛 和彦 哲也 実 茂 明 浩一 直樹 達也 聡 正人 豊",
        "大輔 誠 直樹 達也 健太 拓也 翔太 隆 和也 学 剛 哲也 大樹 亮 健一 雄一 淳 浩 隆之 智也",
        "翔太 拓海 大輝 健太 翔 大輔 拓也 蓮 颯太 大翔 陸 翼 亮太 直人 海斗 優斗 悠斗 和也 達也 駿",
    ],
    "女性": [
        "和子 幸子 節子 洋子 美智子 恵子 京子 久子 悦子 文子 照子 敏子 静子 昭子 信子 光子 千代子 栄子 弘子 美代子",
        "恵子 由美子 久美子 裕子 直美 智子 明美 陽子 真由美 順子 洋子 京子 美香 幸子 典子 恵美 弘美 和美 美穂 正子",
        "陽子 裕子 智子 久美子 恵 愛 彩 舞 麻衣 美穂 真由美 直美 由美子 香織 恵美 千尋 沙織 愛美 美樹 瞳",
        "美咲 彩 葵 愛 結衣 七海 陽菜 さくら 美月 萌 舞 沙織 彩花 優花 真由 遥 美穂 明日香 玲奈 千尋",
    ],
}
# Age band -> birth era, for the 2020 reference date.
BAND_ERA = [3, 3, 2, 2, 1, 1, 0, 0, 0]


def build() -> dict:
    variables = []
    region_share = REGION_POP / REGION_POP.sum()
    variables.append(variable(
        "region", "地方", REGION_NAMES, [], [list(region_share)], ["census2020_population"], True,
        "Population share of each of the eight regions in the 2020 Census total population (thousands). "
        "Approximation: the share among adults is taken equal to the share of the whole population.",
        "Eight-region division (八地方区分) of Japan.",
    ))
    pref_cols = []
    for prefs in REGIONS.values():
        col = [0.0] * len(PREFECTURES)
        for p, n in prefs:
            col[PREFECTURES.index(p)] = float(n)
        pref_cols.append(col)
    variables.append(variable(
        "prefecture", "都道府県", PREFECTURES, ["region"], pref_cols, ["census2020_population"], True,
        "All 47 prefectures weighted by 2020 Census population (rounded to thousands) within their region; "
        "structural zeros outside the region. Approximate only in the rounding and in using total, not adult, population.",
    ))
    seed = np.array([[region_share[r] * NATIONAL_AGE[b] * (1 + REGION_AGE_TILT[name] * BAND_AGE_SHAPE[b])
                      for b in range(len(AGE_BANDS))] for r, name in enumerate(REGION_NAMES)])
    joint = rake(seed, region_share, NATIONAL_AGE / NATIONAL_AGE.sum())
    age_given_region = joint / joint.sum(axis=1, keepdims=True)
    variables.append(variable(
        "age_band", "年齢階級", AGE_BANDS, ["region"], [list(r) for r in age_given_region],
        ["census2020_population"], True,
        "National adult age structure from the 2020 Census 5-year groups (exact to rounding); regional age "
        "structure is a tilt fitted to each region's share aged 65+, raked (IPF) so the national margin is kept. "
        "The regional tilt is approximate.",
    ))
    variables.append(variable(
        "sex", "性別", SEXES, ["age_band"], [[r / (100 + r), 100 / (100 + r)] for r in SEX_RATIO],
        ["census2020_population"], True, "Males per 100 females by 10-year age band, rounded from the 2020 Census.",
    ))
    variables.append(variable(
        "marital_status", "配偶関係", MARITAL, ["sex", "age_band"],
        [MARITAL_TABLE[s][b] for s in SEXES for b in range(len(AGE_BANDS))], ["census2020_marital"], True,
        "Shares by sex and 10-year age band (averaging the census 5-year groups), rounded; unknown excluded.",
    ))
    # education | region, sex, age_band: national column raked against a regional tertiary tilt.
    tertiary = np.array([e in ("大学", "大学院(修士)", "大学院(博士)") for e in EDUCATION])
    region_given_band = joint / joint.sum(axis=0, keepdims=True)  # P(region | band)
    edu: dict[tuple[int, int, int], np.ndarray] = {}
    for s, sex in enumerate(SEXES):
        for b in range(len(AGE_BANDS)):
            national = np.array(EDUCATION_TABLE[sex][b], dtype=float)
            national = national / national.sum()
            w = region_given_band[:, b]
            tilt = np.array([[REGION_TERTIARY_TILT[r] if t else 1.0 for t in tertiary] for r in REGION_NAMES])
            seed_e = w[:, None] * national[None, :] * tilt + 1e-12
            fitted = rake(seed_e, w, national)
            for r in range(len(REGION_NAMES)):
                edu[(r, s, b)] = fitted[r] / fitted[r].sum()
    variables.append(variable(
        "education", "最終学歴", EDUCATION, ["region", "sex", "age_band"],
        [list(edu[(r, s, b)]) for r in range(len(REGION_NAMES)) for s in range(2) for b in range(len(AGE_BANDS))],
        ["census2020_education", "school_basic_survey"], True,
        "Highest school completed (or attended, for students). Finer than the census classes: 短大 and 高専 and "
        "修士 and 博士 are split with School Basic Survey graduate ratios. National shares by sex x age band are "
        "rounded approximations; regional variation is a tilt on university/graduate attainment raked (IPF) to "
        "keep the national shares.",
    ))
    life_cols = []
    for sex in SEXES:
        for b in range(len(AGE_BANDS)):
            for m in MARITAL:
                if sex == "男性":
                    col = list(LIFE_MEN[b])
                    if m == "未婚" and 2 <= b <= 4:  # unmarried men of working age: lower employment
                        col = [col[0], col[1] - 7, col[2] + 3, col[3], col[4] + 4]
                elif m == "未婚" or m == "離別":
                    col = list(LIFE_WOMEN_UNMARRIED[b])
                elif m == "有配偶":
                    col = list(LIFE_WOMEN_MARRIED[b])
                else:  # 死別: between the two
                    col = [(x + y) / 2 for x, y in zip(LIFE_WOMEN_UNMARRIED[b], LIFE_WOMEN_MARRIED[b], strict=True)]
                life_cols.append(col)
    variables.append(variable(
        "life_stage", "ライフステージ", LIFE_STAGES, ["sex", "age_band", "marital_status"], life_cols, ["lfs2020"], True,
        "Student / employed / job-seeking / retired / homemaker from LFS 2020 employment and unemployment rates "
        "by sex and age, and the not-in-labour-force split (通学/家事/その他). Marital-status effects for women "
        "(homemaking) and unmarried men are approximate.",
    ))
    occ_names = [o[1] for o in OCCUPATIONS] + list(NOT_EMPLOYED.values())
    occ_cols = []
    edu_rank = {e: i for i, e in enumerate(EDUCATION)}
    for s, sex in enumerate(SEXES):
        for e in EDUCATION:
            group_w = {g: GROUP_SHARE[sex][g] * EDU_GROUP_PROPENSITY[e][i] for i, g in enumerate(GROUPS)}
            total_g = sum(group_w.values())
            employed = []
            for g in GROUPS:
                members = [(o[1], float(o[2 + s])) for o in OCCUPATIONS if o[0] == g]
                weights = []
                for name, w in members:
                    need = DEGREE_BOUND.get(name)
                    if need is not None and edu_rank[e] < edu_rank[need]:
                        w *= 0.0
                    weights.append(w)
                if sum(weights) == 0:
                    weights = [float(o[2 + s]) for o in OCCUPATIONS if o[0] == g]
                gsum = sum(weights)
                employed += [group_w[g] / total_g * w / gsum for w in weights]
            for stage in LIFE_STAGES:
                if stage == "就業者":
                    occ_cols.append(employed + [0.0] * len(NOT_EMPLOYED))
                else:
                    col = [0.0] * len(occ_names)
                    col[occ_names.index(NOT_EMPLOYED[stage])] = 1.0
                    occ_cols.append(col)
    variables.append(variable(
        "occupation", "職業", occ_names, ["sex", "education", "life_stage"], occ_cols,
        ["census2020_occupation", "jsoc2009", "lfs2020"], True,
        f"{len(OCCUPATIONS)} detailed occupations under the JSOC major groups A-L. For the employed: P(major "
        "group | sex) from LFS 2020 times an education propensity from the census group x school table "
        "(approximate), then detailed occupations by their 2020 Census employed counts for that sex (rounded, "
        "approximate); occupations requiring a degree (医師, 弁護士, 教員, 研究者, ...) get zero weight below it. "
        "Non-employed life stages map to 学生 / 無職(求職中) / 無職(退職) / 専業主婦・主夫.",
    ))
    variables.append(variable(
        "surname", "姓", [s for s, _ in SURNAMES], [], [[w for _, w in SURNAMES]], ["surname_ranking"], True,
        f"The {len(SURNAMES)} most common surnames with their approximate counts (ten-thousands of people), "
        "renormalised over this list: not an official statistic.",
    ))
    given_states, given_cols = given_name_table(SEXES, GIVEN_NAMES, [BAND_ERA[b] for b in range(len(AGE_BANDS))])
    variables.append(variable(
        "given_name", "名", given_states, ["sex", "age_band"], given_cols, ["given_name_ranking"], True,
        "Top-20 given names by sex for the birth era of each age band (ranked lists; weights 1/(rank+2) "
        "stand in for the unpublished counts). Not an official statistic.",
    ))
    mapping = {o[1]: GROUPS[o[0]] for o in OCCUPATIONS}
    mapping.update({v: "非就業" for v in NOT_EMPLOYED.values()})
    derived = [
        {
            "kind": "age_from_band", "name": "age", "source_variable": "age_band", "weights": AGE_YEARS,
            "sources": ["census2020_population"], "approximate": True,
            "notes": "Single years within each band weighted by the 2020 Census 5-year groups, spread evenly "
                     "within a group (approximate); 90+ runs to 104.",
        },
        {
            "kind": "mapping", "name": "occupation_group", "label": "職業大分類", "source_variable": "occupation",
            "mapping": mapping, "sources": ["jsoc2009"], "approximate": False,
            "notes": "JSOC (2009) major group of each detailed occupation; 非就業 for people not employed.",
        },
    ]
    return {
        "format": "synthspace-persona-spec/v1",
        "locale": "ja_JP",
        "language": "ja",
        "country": "日本",
        "title": "日本の成人 (18歳以上) ペルソナ: 2020年国勢調査・労働力調査に基づくベイジアンネットワーク",
        "description": "Adults aged 18+ resident in Japan at the 2020 Census reference date. Structure: region -> "
                       "prefecture; region -> age_band -> sex; (sex, age_band) -> marital_status; (region, sex, "
                       "age_band) -> education; (sex, age_band, marital_status) -> life_stage; (sex, education, "
                       "life_stage) -> occupation; surname; (sex, age_band) -> given_name.",
        "reference_date": "2020-10-01",
        "sources": SOURCES,
        "variables": variables,
        "derived": derived,
    }


if __name__ == "__main__":
    write_spec(build(), Path(__file__).resolve().parent / "ja_JP.json")
