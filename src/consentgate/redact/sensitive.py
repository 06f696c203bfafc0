"""Sensitive-content labels: phrase rules with hard negatives, per label.

A label fires on a text when one of its trigger phrases occurs and no hard-negative
phrase covers that occurrence ("diagnosed with diabetes" is health, "the health of the
codebase" is not; "trade union" is trade_union, "the union of two sets" is not). Two
labels are more than phrases:

* ``compensation`` fires on money amounts (``$185,000``, ``150k``, ``12%``) near pay
  vocabulary (salary, bonus, RSUs, "I make"), and its hits are the amounts, so the profile
  action ``redact`` removes the figures and keeps the sentence;
* ``credentials`` fires on secrets (a value after "password:", cloud and API keys by
  their published prefixes, JWTs, private key blocks, passwords in URLs), and its hits
  are the secrets.

The rules are hand-written because no library classifies these categories without a
model; they favour precision on conversational text, and the figures measured on the
labeled synthetic corpus (tests/corpus_redact.py) are in docs/redaction.md. Each
label's trigger is also its prefilter: the engine runs it as RE2 over the whole Arrow
array first, so the patterns use only syntax RE2 and Python read alike.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from consentgate.redact.catalog import LABEL_CATEGORIES
from consentgate.redact.spans import LabelHit

__all__ = [
    "LABEL_BITS",
    "NEGATIVE_BITS",
    "NEGATIVE_PREFILTERS",
    "PREFILTERS",
    "SURE_LABELS",
    "find_labels",
]

_WS: Final = r"[ \t\r\n]+"


def _alternation(phrases: Sequence[str]) -> str:
    """``\\b(?:p1|p2|...)\\b`` with each space in a phrase matching any run of whitespace."""
    return r"\b(?:" + "|".join(p.replace(" ", _WS) for p in phrases) + r")\b"


@dataclass(frozen=True, slots=True)
class _Rule:
    label: str
    trigger: re.Pattern[str]
    negative: re.Pattern[str] | None
    prefilter: str  # the trigger, for RE2
    negative_prefilter: str | None  # the hard negatives, for RE2


def _rule(label: str, triggers: Sequence[str], negatives: Sequence[str] = ()) -> _Rule:
    source = _alternation(triggers)
    flags = re.IGNORECASE | re.ASCII
    negative = _alternation(negatives) if negatives else None
    return _Rule(
        label,
        re.compile(source, flags),
        re.compile(negative, flags) if negative else None,
        "(?i)" + source,
        "(?i)" + negative if negative else None,
    )


_MY: Final = (
    r"(?:my|his|her|their|our|your|mom'?s|dad'?s|wife'?s|husband'?s|partner'?s|son'?s|daughter'?s)"
)
_I: Final = (
    r"(?:i|i'?m|i am|i was|i'?ve been|i have been|she|she'?s|he|he'?s|they|they'?re|we|we'?re)"
)

_HEALTH = _rule(
    "health",
    [
        r"(?:knee|hip|back|heart|eye|shoulder|spine|spinal|foot|ankle|wrist|hand|brain|bypass|gallbladder|hernia|cataract|dental|jaw)(?: replacement)? (?:surgery|operation)",
        rf"{_MY} (?:[a-z]+ )?(?:operation|op|procedure|physio|chemo|radiotherapy|infusion|scan|transplant)",
        r"(?:doctor'?s|dentist|hospital|clinic|medical|specialist|gp|physio|therapy|psychiatrist|oncology|fertility) appointment",
        r"(?:my|his|her) (?:doctor|gp|physician|dentist|specialist|consultant) (?:said|says|told|thinks|wants|put|prescribed|referred|signed)",
        r"(?:stroke|heart condition|heart problems?|blood pressure (?:pills|meds|medication|tablets)|high blood pressure|hypertension|cholesterol (?:pills|meds|medication)|pneumonia|broken (?:leg|arm|wrist|ankle|rib|hip)|slipped disc|herniated disc|back pain|tinnitus|sciatica|kidney stones?|infection|fractured?)",
        r"(?:struggling with|suffer(?:s|ing)? from|dealing with|battling|treated for|treatment for|medication for|recovering from|recovery from|sick with|ill with) (?:my )?(?:[a-z]+ ){0,2}(?:health|illness|condition|disease|disorder|syndrome|cancer|depression|anxiety|burnout|addiction|injury|infection|surgery|operation|covid|flu|stroke)",
        r"(?:panic|anxiety|asthma|heart) attacks?|migraines?|insulin|chemo|pregnan(?:t|cy)|(?:months|weeks) pregnant",
        r"arr[eê]t (?:maladie|de travail)|cong[eé] maladie|en arr[eê]t|malade|maladie|mon m[eé]decin|ma m[eé]decin|diagnostiqu|hospitalis|op[eé]r[eé] (?:du|de la|des)|enceinte|grossesse|chimio|cancer|diab[eè]te|d[eé]pression|burn-out|th[eé]rapie|psychiatre|psychologue|traitement (?:pour|contre)",
        r"krankgeschrieben|krankschreibung|krankmeldung|krank|(?:mein|meine|meinem|meiner) (?:arzt|therapeut|therapeutin)|[aä]rztin|arzttermin|diagnose|diagnostiziert|schwanger|schwangerschaft|krankenhaus|operiert|krebs|depressionen?|therapie|chemotherapie",
        r"baja m[eé]dica|de baja|enferm[oa]|mi m[eé]dico|diagnosticad[oa]|embarazada|embarazo|operaci[oó]n de|c[aá]ncer|depresi[oó]n|terapia",
        r"in malattia|malattia|malat[oa]|il mio medico|la mia dottoressa|diagnosi|diagnosticat[oa]|incinta|gravidanza|ospedale|operazione|cancro|tumore|depressione",
        r"diagnos(?:ed|is|es)",
        rf"{_MY} (?:therapist|psychiatrist|psychologist|oncologist|cardiologist|neurologist|counsell?or|diagnosis|medications?|prescriptions?|treatment|symptoms|surgery|condition|illness|disability|meds|chemo|doctor said|doctor'?s appointment|gp appointment|blood test|test results|biopsy|mri|ct scan|pregnancy|miscarriage|ivf|recovery)",
        r"(?:chemo(?:therapy)?|radiotherapy|radiation therapy|dialysis|physiotherapy|physical therapy|rehab|psychotherapy|cbt sessions?|therapy sessions?|(?:in|start(?:ed|ing)?|going to|see(?:ing)? a) therapy)",
        r"(?:depression|depressed|anxiety (?:disorder|attacks?|medication)|panic attacks?|bipolar|ptsd|adhd|ocd|autism|autistic|schizophreni[a-z]*|eating disorder|anorexia|bulimia|burnout diagnosis|insomnia|suicidal|self(?:-| )harm)",
        r"(?:cancer|tumou?r|leuka?emia|lymphoma|diabetes|diabetic|hiv|hepatitis|asthma|epilep[a-z]*|seizures?|heart attack|multiple sclerosis|crohn'?s|colitis|arthritis|long covid|migraines?|chronic pain|chronic fatigue|concussion|endometriosis|celiac|coeliac|dementia|alzheimer'?s|parkinson'?s)",
        rf"{_I} (?:tested positive for|caught|had|have|got|recovering from|recovered from|diagnosed with) (?:covid|the flu|flu|pneumonia|shingles|mono|strep)",
        r"(?:pregnant|pregnancy|expecting a baby|miscarriage|ivf|fertility treatment|maternity leave|paternity leave)",
        r"(?:sick leave|medical leave|sick note|doctor'?s note|disability leave|short-term disability|long-term disability|fmla leave|off sick|out sick|called in sick)",
        r"(?:antidepressants?|ssris?|insulin|prozac|xanax|adderall|zoloft|lexapro|ritalin|wellbutrin|chemo pills|methadone|suboxone)",
        r"(?:hospitali[sz]ed|in (?:the )?hospital|emergency room|intensive care|surgery|operated on|(?:had|having|recovering from) (?:an )?operation)",
        r"(?:mental health (?:issues|struggles|problems|crisis|leave|condition)|mental illness|(?:nervous|mental) breakdown|rehab clinic|addiction|alcoholism|sobriety)",
        # issue 15, second round: broader phrasing of conditions and care
        r"(?:i'?m|we'?re|she'?s|wife'?s|wife is|partner'?s|partner is) expecting(?: (?:a baby|a child|twins|our first|my first|our second|a boy|a girl)|[,.!])",
        r"in remission|(?:had|having|suffered) a relapse|flare-?ups? (?:of|with) (?:my|his|her)|allergic reaction|wheelchair user|hearing aids?|(?:on|started|starting|stopped) (?:antibiotics|steroids|medication|meds|antidepressants)",
        r"(?:broke|fractured|sprained|twisted|dislocated|tore) (?:my|his|her) (?:leg|arm|wrist|ankle|foot|collarbone|nose|knee|shoulder|acl|meniscus|back)",
        r"hernie|m[eé]decin m['’](?:a )?(?:arr[eê]t|prescrit|diagnostiqu|opér)|m['’]arr[eê]te (?:[a-z]+ )?(?:jours|semaines|mois)|sous (?:antid[eé]presseurs|traitement)|bandscheibenvorfall|reha|antidepressiva|hernia discal|antidepresivos",
    ],
    [
        r"health ?checks?",
        r"health (?:of|endpoint|status|score|metrics|dashboard|monitor(?:ing)?|probe)",
        r"(?:system|service|code|cluster|node|pipeline|financial|project|team|api|server|database|db|pod|disk|battery|repo) health",
        r"cancer (?:research|awareness|charity|fundraiser|run|walk)",
        r"(?:great|economic|tropical) depression",
        r"(?:retail|music) therapy",
        r"(?:surgery|surgical) (?:on|to) (?:the|this|our|that) (?:code|codebase|module|schema|pipeline|system|repo|service|database)",
        r"(?:in|into) (?:the )?hospital (?:wing|sector|software|system|project|client|contract|account|vertical|customers?|data)",
        r"hospital (?:wing|sector|software|system|project|client|contract|account|vertical|customers?|data)",
        r"(?:asset|property|drug|border|cash) seizures?|seizure of (?:assets|property|funds)",
        r"(?:node|process|container|pod|task) (?:had|has) (?:a )?seizure",
        r"addiction to (?:coffee|caffeine|tabs|spaces|meetings|slack)",
    ],
)

_SEXUAL = _rule(
    "sexual_orientation",
    [
        rf"(?:{_I}) (?:not )?(?:straight|heterosexual)",
        r"(?:husband|wife|partner) and i are both (?:men|women)|(?:two|both) (?:dads|moms|mums|fathers|mothers)|(?:yes, )?two women|(?:yes, )?two men",
        r"(?:boyfriend|husband) (?:and i|of mine)|(?:girlfriend|wife) (?:and i|of mine)",
        r"homosexuel(?:le)?s?|lesbiennes?|bisexuel(?:le)?s?|schwul|lesbisch|bisexuell|homosexuell|lesbianas?|homosexuales?|bisexuales?|lesbiche?|omosessual[ei]|bisessual[ei]|sono gay|soy gay|je suis gay|ich bin gay",
        r"(?:gay|lesbian|bisexual|homosexual|pansexual|asexual|queer|lgbt|lgbtq|lgbtqia)",
        r"came out (?:as|to (?:my|his|her|their) (?:parents|family|mom|dad|mother|father|friends|team|manager|colleagues))",
        r"coming out (?:as|to (?:my|his|her|their) (?:parents|family|mom|dad|mother|father|friends|team|manager|colleagues))",
        r"same(?:-| )sex (?:partner|marriage|couple|relationship|wedding)",
        r"(?:at|to|marching in|march in) (?:the )?pride (?:parade|march)",
        r"sexual orientation|sexuality",
        # issue 15, second round
        r"(?:i'?m|i am|she'?s|he'?s|they'?re) (?:bi|pan|bi-?curious|demisexual)",
        r"(?:into|attracted to) (?:women|men|girls|guys|both|other (?:men|women))",
        r"(?:off for|going to|go to|went to|at|celebrating|celebrate) pride|pride (?:weekend|festival|month with|flag on)",
        r"(?:nous sommes|on est|on s['’]est|se sont) (?:pacs[eé]es|mari[eé]es)|pacs[eé]es|ma femme et moi sommes|mon mari et moi sommes (?:deux hommes)|(?:mein mann|meinem mann) und ich (?:als|sind) (?:zwei m[aä]nner|schwul)",
    ],
    [
        r"(?:take|takes|took|taking) pride|pride (?:in|of) (?:our|my|the|their|his|her|your) (?:work|team|job|code|craft|product)",
        r"gay[- ]lussac",
        r"sexual orientation (?:policy|training|discrimination policy|field)",
        r"(?:lgbt|lgbtq|lgbtqia) (?:employee resource group|erg|month|history month|policy|policies|inclusion training)",
    ],
)

_RELIGION = _rule(
    "religion",
    [
        r"(?:keep|keeps|keeping|eat|eats|only eat|need|needs) (?:kosher|halal)",
        r"convert(?:ed|ing)? to (?:islam|christianity|judaism|catholicism|buddhism|hinduism|sikhism)",
        r"practi[cs]ing (?:catholic|muslim|jew|christian|hindu|buddhist|sikh|mormon)",
        rf"{_MY} (?:pastor|priest|rabbi|imam|parish|church|mosque|temple|synagogue|vicar|minister|congregation|faith)",
        r"(?:i|we|he|she|they) (?:pray|prayed|worship|worshipped|fast|fasted) (?:at|in|every|daily|during|for|five)",
        r"musulman(?:e|s|es)?|juif|juive|chr[eé]tien(?:ne)?s?|catholique|protestante?|bouddhiste|ath[eé]e|pratiquante?s?|l['’][eé]glise|la messe|mosqu[eé]e|synagogue",
        r"(?:in die|zur|in der) kirche|moschee|synagoge|gottesdienst|muslim(?:in|e)?|j[uü]dinn?|j[uü]disch|katholisch|evangelisch|buddhist(?:in)?|atheist(?:in)?",
        r"(?:a|la) misa|iglesia|mezquita|sinagoga|cat[oó]lic[oa]s?|musulm[aá]n|jud[ií][oa]|ate[oa]|evang[eé]lic[oa]",
        r"(?:a|alla) messa|chiesa|moschea|ebre[oa]|musulman[oa]|cattolic[oa]|buddista|ate[oa] praticante",
        rf"{_I} (?:a )?(?:christian|muslim|jewish|jew|hindu|buddhist|sikh|catholic|protestant|mormon|atheist|agnostic|evangelical|orthodox jew|baptist|methodist|lutheran|quaker|jehovah'?s witness)",
        r"(?:as an?|being an?|being) (?:christian|muslim|jew|hindu|buddhist|sikh|catholic|mormon|atheist)",
        rf"{_MY} (?:faith|religion|religious beliefs|pastor|priest|rabbi|imam|church|mosque|synagogue|temple|parish|congregation)",
        r"(?:go|going|went|goes) to (?:church|mosque|synagogue|temple|mass|the mosque|the synagogue|the temple)",
        r"(?:sunday|catholic|midnight|easter) mass",
        r"(?:bible study|quran|koran|torah study|the torah|the bible says|scripture)",
        r"(?:ramadan|fasting for ramadan|eid|diwali|passover seder|yom kippur|rosh hashanah|shabbat|sabbath|hajj|vaisakhi)",
        r"(?:friday|daily|morning|evening) prayers?|prayer (?:room|time|break|mat)|(?:i|we) pray (?:at|in|five|every|daily)",
        r"(?:christian|muslim|jewish|hindu|buddhist|sikh|catholic|islamic) (?:faith|community|holiday|prayer|beliefs|school|upbringing)",
        r"religious (?:beliefs|holiday|reasons|observance|accommodation|leave)",
    ],
    [
        r"religious(?:ly)? (?:follow|follows|followed|about)",
        r"(?:holy war|flame war) (?:about|over)",
        r"the bible (?:of|for) (?:python|javascript|design|typography|sql|devops|product)",
    ],
)

_POLITICS = _rule(
    "political_opinion",
    [
        rf"{_I} (?:a )?(?:lifelong|staunch|die-hard|diehard|committed|registered|proud|card-carrying) (?:democrat|republican|liberal|conservative|socialist|communist|libertarian|progressive|leftist|marxist|tory|labour|green)",
        r"(?:card-carrying|registered|paid-up) (?:member|democrat|republican|voter)",
        r"(?:joined|join|member of|members of|donate to|donated to|donating to|vote for|voted for|voting for|support|supports|campaign for|volunteer for) the (?:democratic|republican|labour|conservative|communist|socialist|green|liberal|libertarian|tory|reform|national) party",
        r"(?:democratic|republican|communist|socialist) party",
        r"(?:think|thinks|believe|reckon) (?:that )?(?:trump|biden|harris|kamala|obama|sanders|bernie|pelosi|desantis|starmer|sunak|farage|le pen|macron|modi|netanyahu|putin|zelensky|milei|meloni|merz|scholz)|(?:trump|biden|harris|obama|sanders|bernie|starmer|sunak|farage|macron|modi|putin|milei|meloni)'?s? (?:campaign|rally|supporters?)",
        r"(?:support|supported|supporting|oppose|opposed|opposing|voted for|voted against|against) (?:brexit|independence|the referendum|remain)",
        r"(?:protest(?:ed|ing)?|marched|march|rallied|rally|demonstrat(?:ed|ing)) (?:against|for) (?:the )?(?:[a-z]+ )?(?:reform|bill|law|cuts|policy|regime|occupation)",
        r"j['’]ai vot|je vote|voter pour|rassemblement national|france insoumise|les r[eé]publicains|lfi|militante? (?:au|du|de la|chez)",
        r"ich w[aä]hle|gew[aä]hlt|mitglied (?:der|bei der) (?:spd|cdu|csu|afd|fdp|linken|gr[uü]nen)|spd|cdu|csu|fdp|die gr[uü]nen",
        r"vot[eé] (?:a|por|al) (?:podemos|vox|psoe|el pp|sumar)|votar(?:e|é)? (?:a|por)|militante de|psoe",
        r"ho votato|voto (?:per|a)|fratelli d['’]italia|movimento 5 stelle|iscritt[oa] al (?:pd|partito)",
        rf"{_I} (?:voted|vote|will vote|am voting|'m voting|voting) (?:for|against|labour|tory|democrat|republican)",
        rf"{_I} (?:a )?(?:democrat|republican|liberal|conservative|socialist|communist|libertarian|progressive|leftist|marxist|anarchist|tory|labour voter|labour member|green party member|maga supporter)",
        r"(?:democrats?|republicans?|gop|maga|labour party|tory party|tories|conservative party|green party|lib dems|afd|die linke|brexiteers?|remainers?)",
        r"(?:support(?:ed|ing)?|hate|hated|love|loved|like|dislike|despise|can'?t stand|voting for|vote for|voted for) (?:trump|biden|harris|kamala|obama|sanders|bernie|aoc|pelosi|desantis|starmer|sunak|farage|le pen|macron|modi|netanyahu|putin|zelensky|milei|meloni)",
        r"(?:political (?:views?|beliefs?|opinions?|affiliation|leanings?)|my politics|party membership|party member)",
        r"(?:pro-life|pro-choice|abortion rights|gun control|gun rights|immigration policy|climate denial|(?:left|right)-wing|far-(?:left|right))",
        r"(?:campaign(?:ing|ed)?|canvass(?:ing|ed)?|volunteer(?:ing|ed)?) for (?:the )?(?:democrats|republicans|labour|tories|candidate|senator|congresswoman|congressman|mayor|campaign)",
        r"(?:protest(?:ed|ing)?|marched|rally|rallied|demonstrat(?:ed|ing)) (?:against|for) (?:the )?(?:government|war|president|prime minister|election|immigration|abortion|police|israel|palestine|ukraine)",
        r"election (?:day|results|fraud|campaign)|general election|presidential election|midterms",
        # issue 15, second round: opinions of politicians and movements
        r"(?:trump|biden|harris|kamala|obama|sanders|bernie|aoc|pelosi|desantis|starmer|sunak|farage|le pen|macron|modi|netanyahu|putin|zelensky|milei|meloni|m[eé]lenchon|orb[aá]n|bolsonaro|lula|the president|the prime minister|the government|the chancellor) (?:is|was|has been|are) (?:a |an |the )?(?:[a-z]+ )?(?:disaster|joke|liar|crook|criminal|fascist|idiot|hero|genius|clown|traitor|threat|dictator|communist|socialist|puppet|embarrassment|catastrophe|menace|saint|savior|saviour|the best|the worst)",
        r"(?:i'?m|i am|we'?re) (?:pro|anti)-(?:brexit|immigration|abortion|gun|choice|life|eu|union|war|nato|trump)",
        r"(?:i|we) (?:always |never |would never |will never |'d never )?vote (?:labour|tory|conservative|green|democrat|republican|lib dem|reform|left|right|socialist)",
    ],
    [
        r"leader election|election (?:timeout|algorithm|protocol)|raft election",
        r"conservative (?:estimate|approach|default|choice|guess|settings?|with|about|when)|liberal (?:use|amount|license|licence|with|about)",
        r"progressive (?:about|with|rollout|enhancement|web app|delivery|disclosure|loading|jpeg)",
        r"(?:marketing|email|ad|ads|sales|drip|outreach) campaign",
        r"trump card",
    ],
)

_UNION = _rule(
    "trade_union",
    [
        r"(?:with|to|from|by|through|via|in|joined|join|called|contacted) (?:the|our|my|a|their) union",
        r"(?:our|my|his|her|their) union",
        r"union (?:cards|members|meetings|officials|leaders|organi[sz]ers|dues|rep|reps|local)",
        r"seiu|uaw|ibew|afscme|unison|rmt|cgt|cfdt|ccoo|cgil|cisl|teamsters",
        r"syndicat|syndiqu|d[eé]l[eé]gu[eé]e? syndical|en gr[eè]ve|faire gr[eè]ve|gewerkschaft|gewerkschaftlich|streiken|im streik|sindicat[oa]|sindical|en huelga|hacer huelga|sindacat[oa]|sindacale|in sciopero|fare sciopero|scioperare",
        r"(?:trade|labou?r|teachers'?|nurses'?|workers'?|tech workers'?) union",
        r"union (?:rep|reps|representative|steward|meeting|dues|membership|member|organi[sz]er|organi[sz]ing|drive|contract|card|election|busting|vote)",
        r"unioni[sz](?:e|ed|es|ing|ation)",
        r"join(?:ed|ing)? (?:the|a) union",
        r"collective (?:bargaining|agreement)",
        r"shop steward|teamsters|afl-cio|unite the union|ver\.di|ig metall|works council|betriebsrat",
        r"(?:go|going|went|gone|be|are|were|is) on strike|strike (?:vote|action|ballot|pay|fund)|picket(?:ing)? line|walk-?out",
        # issue 15, second round: organizing, dues, bargaining, strikes in other words
        r"organi[sz](?:ing|e|ed) (?:drive|campaign|committee|the (?:shop|warehouse|workplace|office|store|newsroom))|captive[- ]audience meetings?|card check|signed (?:union |authorization )?cards",
        r"(?:pay|paying|paid|pays) (?:my |our |union |monthly )?dues|dues-paying",
        r"picket(?:ed|ing|ers|s)?|wildcat strike|general strike|strike (?:authori[sz]ation|committee|notice|captain)|walk(?:ed|ing)? off the job|work stoppage|sick-?out",
        r"ratif(?:y|ied|ying|ication)(?: of)? (?:the|our|a) (?:new |tentative )?(?:contract|agreement|deal)|tentative agreement|bargaining (?:unit|committee|table|team|session)",
        r"(?:our|the|my) local (?:voted|president|chapter|meeting|union|hall|rep)|union hall|labou?r organi[sz]er|union-busting|anti-union",
        r"sindicales|delegad[oa]s? (?:sindical|de personal)|huelga|sciopero|gr[eè]ve|d[eé]l[eé]gu[eé]e?s? du personnel|repr[eé]sentante? du personnel|warnstreik|streik|tarifverhandlung|gewerkschafter(?:in)?",
    ],
    [
        r"union (?:of|all|type|types|find|select|query|operator|member(?:s)? of the (?:struct|type|set))",
        r"union-find",
        r"picket fences?",
        r"(?:european|soviet|credit|student|rugby|postal|customs|banking) union",
        r"union (?:station|square|pacific|jack)",
        r"state of the union",
        r"sql union|tagged union|discriminated union",
        r"(?:the )?build (?:is|went) on strike",
    ],
)

_CRIME = _rule(
    "criminal_history",
    [
        r"(?:arrested|convicted|charged|jailed|sentenced|booked|imprisoned|locked up|prosecuted|indicted|fined|cautioned|picked up) (?:[a-z]+ ){0,3}(?:for|of|with) (?:a |an )?(?:burglary|robbery|theft|fraud|assault|battery|shoplifting|possession|drunk driving|dui|dwi|murder|manslaughter|vandalism|stalking|harassment|trespassing|drug dealing|dealing|embezzlement|arson|speeding)",
        r"(?:did|served|spent|doing|done) (?:[a-z0-9]+ ){0,2}(?:years?|months?|weeks?|time) (?:for|in) (?:burglary|robbery|theft|fraud|assault|shoplifting|possession|murder|manslaughter|jail|prison)",
        r"casier judiciaire|(?:de la|en) prison|condamn[eé]|garde [aà] vue|incarc[eé]r|vorbestraft|vorstrafe|verurteilt|gef[aä]ngnis|im knast|festgenommen|verhaftet|antecedentes penales|(?:la|en la) c[aá]rcel|condenad[oa]|arrestad[oa]|fedina penale|precedenti penali|carcere|arrestat[oa]|condannat[oa]|in galera",
        r"(?:was|were|got|been|being|get|gets) arrested|arrested (?:for|me|him|her|them)",
        r"convicted|conviction|criminal record|criminal history|rap sheet|mugshot",
        r"(?:in|to|went to|out of|served time in|released from|spent (?:a night|two nights|[a-z0-9]+ (?:days|weeks|months|years)) in) (?:jail|prison)",
        r"felony|felon|misdemeanou?r|dui|dwi|drunk driving charge",
        r"(?:on|violated (?:his|her|my)) parole|parole officer|probation officer|criminal probation|sentenced to probation",
        r"charged with (?:a |an )?(?:crime|assault|theft|fraud|dui|murder|battery|possession|robbery|burglary|shoplifting|harassment|stalking|domestic violence|manslaughter|vandalism)",
        r"plead(?:ed)? guilty|pleaded no contest|sentenced to|served (?:[0-9]+|one|two|three|four|five|six|ten) (?:years|months) (?:in|for)",
        r"expunge(?:d|ment)?|sex offender|restraining order|incarcerat(?:ed|ion)|arraignment|bail hearing|out on bail|posted bail",
    ],
    [
        r"arrested development",
        r"(?:release|deploy|change|build|spec) (?:was )?sentenced",
        r"conviction (?:that|in (?:the|our) (?:product|team|plan|approach))",
        r"(?:strong|firm|deep|personal) convictions?",
    ],
)

_DISPUTE = _rule(
    "employment_dispute",
    [
        r"let (?:me|him|her|them) go (?:without|after|last|yesterday|today|because|for|over)",
        r"investigation into (?:my|his|her|their|our) (?:manager|boss|lead|supervisor|team lead|director)|hr (?:opened|started|launched) an? (?:investigation|inquiry)",
        r"(?:filing|filed|file|raise|raised|raising|lodge|lodged) (?:a )?(?:formal )?(?:grievance|complaint)",
        r"performance (?:improvement )?plan",
        r"comments about (?:my|his|her|their) (?:age|race|gender|religion|accent|weight|pregnancy|sexuality|disability)",
        r"licenci|prud['’]hom|harc[eè]lement|gek[uü]ndigt|k[uü]ndigung|abmahnung|abgemahnt|mobbing|arbeitsgericht|despedid[oa]|despido|acoso laboral|licenziat[oa]|licenziamento",
        rf"{_I} (?:got |been |being |was |were |just got |getting )?(?:fired|terminated|let go|laid off|dismissed|sacked|made redundant)",
        r"(?:fired|terminated|let go|laid off|dismissed) (?:me|him|her|them|us|without cause|for cause|over)",
        r"wrongful(?:ly)? (?:termination|dismissal|terminated|dismissed)|constructive dismissal|unfair dismissal",
        r"layoffs?|laid off|redundancy (?:notice|package|payment|pay|process|consultation)|made redundant|severance (?:package|pay|agreement|negotiations?)",
        r"performance improvement plan|put (?:me|him|her|them) on (?:a )?pip|(?:on|onto) (?:a )?(?-i:PIP)",
        r"disciplinary (?:action|hearing|meeting|process|investigation)|written warning|final warning",
        r"(?:filed|file|filing|submitted) (?:a )?(?:formal )?(?:complaint|grievance|charge|lawsuit|claim) (?:with|against|about)|grievance (?:procedure|hearing|process)",
        r"harass(?:ed|ing|ment)|sexual harassment|hostile work environment|bullied at work|workplace bullying",
        r"discriminat(?:ed|ion|ing) against|age discrimination|gender discrimination|racial discrimination|pay discrimination",
        r"retaliat(?:ed|ion|ing) (?:against|for)|whistleblow(?:er|ing)",
        r"(?:sue|suing|sued) (?:the company|my (?:employer|manager|boss)|them|us|our employer)|lawsuit against|class action (?:against|lawsuit)",
        r"employment (?:tribunal|lawyer|attorney|dispute|claim)|eeoc|labou?r board|nlrb|acas",
        r"(?:reported|report|reporting) (?:him|her|them|my manager|my boss|my lead) to hr|hr (?:complaint|investigation)",
    ],
    [
        r"terminat(?:e|ed|es|ing) (?:the|a|an|this|that|our|all) (?:process|processes|instance|instances|connection|connections|session|sessions|job|jobs|pod|pods|thread|threads|node|nodes|container|containers|vm|vms|loop|query|request|worker|workers|contract negotiations)",
        r"(?:process|instance|job|pod|thread|worker|container|node|vm|session|connection|loop) (?:was |got |gets |is )?(?:terminated|killed|fired)",
        r"fired (?:the|an|off|up) (?:event|request|webhook|callback|query|alarm|trigger|email|notification|the oven|the grill)",
        r"let go of (?:the|this|that|it|my|our)",
        r"pip install|pip3|(?:via|with|using|upgrade) pip",
        r"(?:price|image|signal|feature|class|binary) discrimination|discriminat(?:or|ive) model",
        r"harassment (?:prevention )?training|anti-harassment policy|harassment policy",
        r"(?:filed|file|filing|submitted) (?:a )?(?:bug|ticket|issue|jira|pr)",
        r"layoff (?:simulation|drill)",
    ],
)

_CONFIDENTIAL = _rule(
    "confidential_business",
    [
        r"(?:we'?re|we are|they'?re|they are|we'?ll be|we will be) (?:acquiring|buying|merging with|being acquired|selling the company)",
        r"keep (?:it|this) (?:quiet|internal|between us|secret|under wraps|confidential)",
        r"(?:has|have|had)(?:n'?t| not) (?:been )?(?:announced|made public|released)|not (?:been )?(?:announced|made public)",
        r"confidentiel(?:le)?|ne pas diffuser|vertraulich|nicht weitergeben|confidencial|riservat[oa]|confidenziale",
        r"(?-i:NDA)s?|non-disclosure(?: agreement)?|confidentiality agreement|under nda",
        r"trade secrets?",
        r"(?:strictly |highly )?confidential (?:project|deal|numbers|information|document|roadmap|plan|memo|deck|acquisition|negotiations?|pricing|until)|(?:this|it) is confidential|keep (?:this|it) confidential|company confidential|confidential and proprietary",
        r"internal (?:use )?only|do not (?:share|forward|distribute|disclose)|don'?t (?:share|forward|tell anyone|leak)",
        r"under (?:embargo|wraps)|embargoed (?:until|news|announcement)",
        r"not (?:yet )?(?:public|publicly announced|announced)|unannounced|unreleased (?:product|feature|model|device|version|chip|phone|game|earnings)",
        r"(?:secret|stealth|skunkworks) project|codenamed?|project codename",
        r"(?:acquisition|merger) (?:talks|target|negotiations|offer)|(?:being|going to be|to be) acquired|term sheet|letter of intent",
        r"insider (?:trading|information|info)|material non-public|mnpi|quiet period",
        r"proprietary (?:algorithm|formula|source code|data|process|recipe)",
        r"(?:earnings|revenue|quarterly) numbers (?:before|ahead of) (?:the )?(?:release|announcement|call)",
    ],
    [
        r"confidential computing",
        r"confidence interval",
        r"(?:public|open) roadmap",
        r"not public (?:api|method|field|class|function|interface|endpoint)",
        r"(?:internal|private) only (?:method|function|field|api|endpoint|flag)",
        r"(?:do not|don'?t) share (?:your|my|the) (?:screen|password|passwords|credentials|login)|share (?:your|my) screen",
    ],
)

# ----------------------------------------------------------------------- compensation

_PAY_WORDS: Final = [
    r"salary|salaries|base pay|base salary|pay (?:raise|rise|cut|bump|increase|band|grade|rate|is|was)|payslip|paycheck|pay stub|take-home",
    r"(?:a|my|his|her|the) raise|got a raise|raise (?:to|of)",
    r"bonus(?:es)?|signing bonus|sign-on|retention bonus|commission|ote|total comp|compensation|comp package|\bcomp\b|(?-i:TC)",
    r"equity|rsus?|stock options|options grant|shares vesting|vesting|refresher grant|stock grant",
    r"offer letter|job offer|offered (?:me|him|her|them)|(?:their|the|his|her|my) offer (?:is|was|came in|of)|counter-?offer",
    r"(?:i|you|she|he|they|we) (?:make|makes|made|earn|earns|earned|get paid|got paid|am paid|was paid|are paid|is paid)",
    r"wages?|hourly rate|stipend|severance|pension contribution|401k match",
    r"(?:pay|pays|paying|paid) (?:me|him|her|them|us)|my base|base (?:is|was|of)|per annum|p\.a|/(?:yr|year|month|mo|hr|hour)|(?:i'?m|i am|she'?s|he'?s) on",
    r"salaire|je gagne|il gagne|elle gagne|je touche|brut|net par mois|gehalt|lohn|verdiene|verdient|brutto|netto|jahresgehalt|gehaltserh[oö]hung|salario|sueldo|gano|cobro|stipendio|guadagno|ral",
]
_PAY_NEGATIVE: Final = re.compile(
    _alternation(
        [
            r"bonus (?:points?|level|round|feature|track|question|content|stage|episode|material)",
            r"(?:brand|home|private|sweat|racial|pay) equity|equity (?:and|&) inclusion|diversity,? equity|equity (?:research|fund|firm|markets?|analyst)",
            r"compensation (?:logic|layer|mechanism|for (?:the )?(?:latency|delay|drift|lag))|lag compensation",
            r"options (?:dict|object|parameter|param|menu|flag|argument)",
        ]
    ),
    re.IGNORECASE | re.ASCII,
)
_PAY_SOURCE: Final = r"\b(?:" + "|".join(p.replace(" ", _WS) for p in _PAY_WORDS) + r")\b"
_PAY: Final = re.compile(_PAY_SOURCE, re.IGNORECASE | re.ASCII)
_NUMBER: Final = r"[0-9](?:[0-9,.']*[0-9])?"  # ends on a digit: "185,000," is "185,000"
_AMOUNT: Final = re.compile(
    rf"(?:[$€£¥₹]|\b(?:USD|EUR|GBP|CHF|CAD|AUD|INR|SGD) ?){_NUMBER}"
    r"(?: ?(?:k|K|m|M|mm|MM|million|thousand|grand|bn)\b)?"
    rf"|\b{_NUMBER} ?(?:k|K)\b"
    rf"|\b{_NUMBER}(?: [0-9]{{3}})* ?(?:dollars|euros?|Euro|pounds|USD|EUR|GBP|CHF|bucks|francs)\b"
    rf"|\b{_NUMBER}(?: [0-9]{{3}})* ?[€£]"
    r"|\b[0-9]{1,3}(?:\.[0-9]{1,2})? ?%"
    r"|\b[0-9]{1,3}(?:,[0-9]{3})+\b"
    r"|\b[0-9][0-9,]* (?:RSUs?|shares|options)\b",
    re.ASCII,
)
_PAY_WINDOW: Final = 60
_PERCENT_WORDS: Final = (
    "raise",
    "rise",
    "bonus",
    "equity",
    "pay",
    "commission",
    "401k",
    "salary",
    "increase",
    "stock",
)


def _compensation(text: str) -> list[LabelHit]:
    keywords = [
        m for m in _PAY.finditer(text) if not _vetoed(_PAY_NEGATIVE, text, m.start(), m.end())
    ]
    if not keywords:
        return []
    hits: list[LabelHit] = []
    for a in _AMOUNT.finditer(text):
        s, e = a.start(), a.end()
        if a.group().endswith("%") and not any(
            w in k.group().lower() for k in keywords for w in _PERCENT_WORDS
        ):
            continue
        for k in keywords:
            near = (k.end() <= s and s - k.end() <= _PAY_WINDOW) or (
                e <= k.start() and k.start() - e <= _PAY_WINDOW
            )
            if near and not _SENTENCE_END.search(text, min(k.end(), e), max(k.start(), s)):
                hits.append(LabelHit(s, e, "compensation", LABEL_CATEGORIES["compensation"]))
                break
    return hits


_SENTENCE_END: Final = re.compile(r"[.!?](?: |\n|$)|\n\n")

# ------------------------------------------------------------------------ credentials

_NOT_SECRETS: Final = frozenset(
    """
    incorrect wrong required expired invalid correct reset changed weak strong too the a
    an not being still same different saved stored hashed encrypted empty missing set
    updated blank protected manager policy field rotated shared sent needed fine here
    there below above attached secure safe long short unknown case sensitive null none
    mandatory optional compromised leaked stolen
    """.split()  # noqa: SIM905
)
# (pattern with one group, the secret; lower-case hints one of which the text must hold)
_SECRETS: Final = (
    (
        r"\b(?i:password|passwd|pwd|passcode|passphrase|pin code|pin|mot de passe|mdp|passwort|kennwort|contrase\u00f1a|contrasena|clave)\b ?(?i:is|was|=|:|->|is now|set to|est|ist|es)"
        r"[ \t]*[\"'`]?([^\s\"'`]{4,})",
        ("pass", "pwd", "pin", "mdp", "kennwort", "contrase", "clave"),
    ),
    (r"\b((?:AKIA|ASIA)[0-9A-Z]{16})\b", ("akia", "asia")),
    (r"\b(gh[pousr]_[A-Za-z0-9]{30,})\b", ("gh",)),
    (r"\b(github_pat_[A-Za-z0-9_]{22,})\b", ("github_pat_",)),
    (r"\b(xox[abprs]-[A-Za-z0-9-]{10,})\b", ("xox",)),
    (r"\b((?:sk|rk)_live_[0-9A-Za-z]{16,})\b", ("_live_",)),
    (r"\b(sk-(?:proj-)?[A-Za-z0-9_-]{20,})\b", ("sk-",)),
    (r"\b(AIza[0-9A-Za-z_-]{35})\b", ("aiza",)),
    (r"\b(eyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,})\b", ("eyj",)),
    (
        r"(-----BEGIN (?:RSA |EC |DSA |OPENSSH |PGP |ENCRYPTED )?PRIVATE KEY(?: BLOCK)?-----)",
        ("private key",),
    ),
    (
        r"\b(?i:api[_-]?key|apikey|secret[_-]?key|client[_-]?secret|access[_-]?token|auth[_-]?token|bearer|secret|token)\b"
        r" ?(?i:is|=|:)?[ \t]*[\"'`]?([A-Za-z0-9_\-/+=.]{20,})",
        ("key", "secret", "token", "bearer"),
    ),
    (r"://[^\s:/@]+:([^\s@/]{3,})@", ("://",)),
)
_SECRET_RULES: Final = tuple((i, re.compile(p), hints) for i, (p, hints) in enumerate(_SECRETS))
_CREDENTIALS_PREFILTER: Final = (
    r"(?i)pass|pwd|\bpin\b|mdp|kennwort|contrase|clave|AKIA|ASIA|gh[pousr]_|github_pat_|xox[abprs]-|_live_|sk-|AIza|eyJ|"
    r"PRIVATE KEY|api[_-]?key|secret|token|bearer|://[^ \t\r\n:/@]+:[^ \t\r\n@/]+@"
)


def _credentials(text: str) -> list[LabelHit]:
    low = text.lower()
    hits: list[LabelHit] = []
    for index, rx, hints in _SECRET_RULES:
        if not any(h in low for h in hints):
            continue
        for m in rx.finditer(text):
            value = m.group(1).rstrip(".,;:!?)")
            if index == 0 and (value.lower() in _NOT_SECRETS or set(value) <= set("*•x.")):
                continue
            if index == 10 and not any(c.isdigit() for c in value):
                continue  # a long word after "token", not a token
            s = m.start(1)
            hits.append(LabelHit(s, s + len(value), "credentials", LABEL_CATEGORIES["credentials"]))
    hits.sort()
    return _distinct(hits)


def _distinct(hits: list[LabelHit]) -> list[LabelHit]:
    """Drop hits overlapping an earlier one (two secret patterns on one value)."""
    out: list[LabelHit] = []
    for h in hits:
        if not out or h.start >= out[-1].end:
            out.append(h)
    return out


# ------------------------------------------------------------------------------ driver

_RULES: Final = (_HEALTH, _SEXUAL, _RELIGION, _POLITICS, _UNION, _CRIME, _DISPUTE, _CONFIDENTIAL)
_BY_LABEL: Final = {rule.label: rule for rule in _RULES}

LABEL_BITS: Final[dict[str, int]] = {
    label: 1 << (16 + i) for i, label in enumerate(LABEL_CATEGORIES)
}
"""Label -> its prefilter group bit (bits 16 and up; identifier groups use the low bits)."""

PREFILTERS: Final[dict[int, str]] = {LABEL_BITS[rule.label]: rule.prefilter for rule in _RULES}
PREFILTERS[LABEL_BITS["compensation"]] = "(?i)" + _PAY_SOURCE
PREFILTERS[LABEL_BITS["credentials"]] = _CREDENTIALS_PREFILTER

NEGATIVE_BITS: Final[dict[str, int]] = {
    rule.label: 1 << (32 + i) for i, rule in enumerate(_RULES) if rule.negative_prefilter
}
"""Phrase label -> the bit of its hard-negative prefilter (bits 32 and up)."""

NEGATIVE_PREFILTERS: Final[dict[int, str]] = {
    NEGATIVE_BITS[rule.label]: rule.negative_prefilter
    for rule in _RULES
    if rule.negative_prefilter is not None
}

SURE_LABELS: Final = frozenset(_BY_LABEL)
"""Labels whose trigger prefilter alone decides presence when their hard negatives'
prefilter does not match (compensation and credentials need their Python checks)."""


def _vetoed(negative: re.Pattern[str] | None, text: str, start: int, end: int) -> bool:
    """Whether a hard-negative phrase overlaps ``text[start:end]``."""
    if negative is None:
        return False
    window = negative.finditer(text, max(0, start - 80), min(len(text), end + 80))
    return any(n.start() < end and start < n.end() for n in window)


def find_labels(text: str, groups: int, wanted: frozenset[str]) -> list[LabelHit]:
    """Every label hit in ``text`` for the labels in ``wanted`` whose prefilter bit is set
    in ``groups``."""
    hits: list[LabelHit] = []
    for rule in _RULES:
        if rule.label in wanted and groups & LABEL_BITS[rule.label]:
            category = LABEL_CATEGORIES[rule.label]
            for m in rule.trigger.finditer(text):
                if not _vetoed(rule.negative, text, m.start(), m.end()):
                    hits.append(LabelHit(m.start(), m.end(), rule.label, category))
    if "compensation" in wanted and groups & LABEL_BITS["compensation"]:
        hits.extend(_compensation(text))
    if "credentials" in wanted and groups & LABEL_BITS["credentials"]:
        hits.extend(_credentials(text))
    return hits
