"""Cue families: the phrases that carry a verdict in customer feedback.

A general-purpose sentiment lexicon misses most of what makes a complaint a
complaint: "52 minutes on hold", "the parcel still hasn't arrived", "you charged
me twice" contain no negative word at all, and polite complaints ("I'm afraid",
"I would have expected") read as neutral or even positive. Each family below is a
kind of evidence, written from how people complain and praise, not from any one
message. Families are matched on lower-cased text in the order of `MASKING`
first (phrases whose words would otherwise be misread, such as "no problem at
all" or "not resolved"), then the rest.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass


class Kind(enum.Enum):
    PRAISE = "praise"  # explicit praise or thanks for something done
    THANKS = "thanks"  # a thank-you that may be mere courtesy
    COURTESY = "courtesy"  # a thank-you that is only manners ("thanks in advance")
    COMPLAINT = "complaint"  # strong evidence of a problem
    WEAK_COMPLAINT = "weak complaint"  # a problem, unless the message is a question or request
    RESOLUTION = "resolution"  # a problem reported as solved
    SARCASM = "sarcasm"  # a phrase that is praise only on the surface
    REQUEST = "request"  # the sentence asks for something
    FRAME = "frame"  # scene-setting: a fear before it went well, pleasantries


@dataclass(frozen=True, slots=True)
class Family:
    name: str
    kind: Kind
    pattern: re.Pattern[str]
    negatable: bool = False  # a preceding "not/no/never/without" cancels it


# Where a family's alternatives can all start with "\b", they do (even before "^" or a
# lookbehind, which it commutes with there): the regex engine then tests it once per
# position for the family instead of once per alternative.
def _f(name: str, kind: Kind, *alternatives: str, negatable: bool = False) -> Family:
    return Family(name, kind, re.compile("|".join(f"(?:{a})" for a in alternatives)), negatable)


NEG = r"(?:\b(?:not|never|no longer|hardly)\b|n'?t\b)"
_NUM = (r"(?:\d+|an?|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|"
        r"twenty|thirty|forty|fifty|sixty|several|many|a few|a couple of|[a-z]+-[a-z]+)")
_UNIT = r"(?:minutes?|mins?|hours?|hrs?|days?|weeks?|wks?|months?|years?)"
_PEOPLE = r"(?:nobody|no one|no-one|no body)"
_KIN = (r"husband|wife|father|mother|dad|mum|mom|son|daughter|partner|brother|sister|"
        r"grandmother|grandfather|gran|grandad|friend|uncle|aunt")

# Matched first; the matched text is blanked so later families do not see its words.
MASKING: tuple[Family, ...] = (
    _f("positive idiom", Kind.PRAISE,
       r"\b(?:no|without any|without a|without|not a single|not one|zero|never (?:had|have had|"
       r"has been|was) (?:a|any))\s+(?:\w+\s+)?(?:problems?|issues?|complaints?|hassle|fuss|"
       r"pressure|trouble|worries|hitch|quibbles?|faults?)\b(?:\s+(?:at all|whatsoever))?",
       r"\bnot bad\b",
       r"\bcan'?t fault\b|\bcannot fault\b",
       r"\bcould(?:n'?t| not) (?:have )?(?:be|been|ask(?:ed)?(?: for)?|done|do|wish(?: for)?)"
       r" (?:any )?(?:more|better|happier|nicer|kinder|easier|quicker|faster)\b",
       r"\bcan'?t thank \w+ enough\b|\bcannot thank \w+ enough\b",
       r"\bnothing (?:was )?too much trouble\b",
       r"\b(?:won'?t|will not|never) forget\b",
       r"\bnothing to complain about\b|\bno complaints\b",
       r"\bdidn'?t (?:make|let) me feel\b",
       # Turning a difficulty into ease is praise, whatever the difficulty was.
       r"\bmade (?:\w+ ){0,4}?(?:easy|easier|simple|simpler|painless|straightforward|bearable|"
       r"a breeze|a pleasure)\b",
       r"\b(?:tell|give|pass on|send|passing on) (?:\w+ ){0,3}?(?:my |our )?(?:thanks|thank you|"
       r"gratitude)\b|\bthanks to\b"),
    # The problem as the object of help ("fixing my problem") is no complaint.
    _f("helped with", Kind.RESOLUTION,
       r"\b(?:fix|fixing|fixed|solve|solving|solved|sort|sorting|sorted|resolve|resolving|resolved|"
       r"help(?:ed|ing)? (?:me )?with|interested in|look(?:ed|ing)? into|understood) (?:my|the|our|"
       r"this|that|a) (?:\w+ )?(?:problem|issue|query|question|complaint)s?\b"),
    # What the customer feared before it went well, or manners around a name.
    _f("framing", Kind.FRAME,
       r"\b(?:i|we) (?:was|were|had been|'d been) (?:\w+ )?(?:dreading|expecting|worried|"
       r"nervous|anxious|sceptical|skeptical|apprehensive|afraid|bracing)\b",
       r"\b(?:read|heard|seen) (?:some |lots of |a lot of |many )?(?:bad|terrible|awful|mixed|"
       r"negative|poor) (?:reviews|things|stories)\b",
       r"\bdidn'?t (?:really )?(?:think|expect|believe)\b",
       r"\bsorry if i'?(?:ve| have)? (?:spelt|spelled|got|misspelt|misspelled)\b[^)]*",
       r"\b(?:i )?hope (?:you(?:'re| are)|this finds you) (?:well|keeping well)\b|"
       r"\b(?:kind|best|warm) (?:regards|wishes)\b|\bhave a (?:nice|good|great) (?:day|weekend)\b"),
    _f("polite request", Kind.REQUEST,
       r"(?:\b(?:i|we)(?:'d| would)|\bwould) (?:be (?:very |most |really )?grateful"
       r"|(?:really )?appreciate"
       r"(?: it)?|love) (?:if|to)\b"),
    _f("unresolved", Kind.COMPLAINT,
       NEG + r"\s+(?:\w+\s+)?(?:been\s+|got\s+|get\s+)?(?:resolved|fixed|sorted|solved|answered|"
       r"addressed|resolve|fix|solve|dealt with)\b",
       r"\bsorry to (?:say|report|tell you)\b"),
    _f("remedy request", Kind.COMPLAINT,
       r"\b(?:want|like|expect|need|demand|entitled to"
       r"|would appreciate)\b[^.!?]{0,30}?\b(?:refund\w*"
       r"|money back|reimburs\w*|compensat\w*|credited|reversed|waived|cancelled|fixed|sorted|"
       r"corrected|replaced|collected|moved back|put right)\b",
       r"\brefund would be\b|\bfull refund\b|\bpartial refund\b",
       r"\b(?:please\s+)?(?:fix|correct|rectify|investigate)\s+(?:this|it|that|pls|please|asap)\b",
       r"\bfix pls\b|\bplease fix\b",
       r"\bneeds? (?:some |more |urgent )?(?:fixing|training|sorting|looking at)\b"),
    _f("negated praise", Kind.COMPLAINT,
       r"\b(?:not|isn'?t|wasn'?t|aren'?t|weren'?t|hardly|far from)\s+(?:very |that |so "
       r"|particularly"
       r" |at all )?(?:happy|impressed|great|good(?: enough)?|acceptable|ideal|fair|helpful|"
       r"pleased|satisfied|clear|ok|okay|right|safe|useful|much use|any use|what i)\b",
       r"\b(?:wouldn'?t|would not|won'?t|will not|never|can'?t|cannot)\s+(?:be\s+)?(?:recommend\w*"
       r"|ordering|order|buy\w*|shop\w*|use|using|come back|coming back)\b"),
)

FAMILIES: tuple[Family, ...] = (
    # Waiting: a long duration next to waiting, lateness or chasing is a complaint by
    # itself, whatever words surround it.
    _f("waiting", Kind.COMPLAINT,
       r"\bon hold\b|\bhold music\b|\bqueue\w*\b",
       r"\b(?:still|been|kept|keep|left|am|are|is|were|was|i'?m|spent)\s+(?:\w+\s+)?waiting\b",
       r"\bwaited\b|\bwaiting (?:in|for|since|on)\b",
       r"\bno (?:reply|replies|response|answer|call ?back|news|update)\b",
       r"\bnever (?:heard|got) back\b|\byet to (?:receive|hear|get|see)\b",
       r"\btook (?:far )?too long\b|\btoo long\b|\bages\b|\bforever\b",
       r"\b(?:late|delayed|overdue|rescheduled)\b(?!\s+(?:" + _KIN + r"))",
       r"\b(?:takes?|took|taking)\b[^.!?]{0,25}\bto (?:load|arrive|open|respond|connect|come)\b",
       r"\bbeen\b[^.!?]{0,30}\bsince\b"),
    _f("repeat", Kind.COMPLAINT,
       r"\b(?:yet|once) again\b|\bagain and again\b|\bin a row\b|\bevery single time\b",
       r"\bfor the (?:second|third|fourth|fifth|\d+(?:st|nd|rd|th)|umpteenth|nth) time\b",
       r"\b(?:third|fourth|fifth|\d+(?:rd|th)) (?:time|email|letter|call|week|month|day|attempt)",
       r"\b(?:keeps|kept) (?:on )?\w+ing\b|\bkeep (?:getting|receiving|being|having)\b",
       r"\b(?:two|three|four|five|several|\d+) different\b|\beach (?:for|with"
       r"|saying) a different\b",
       r"\b^(?:yet |not )?another\b",
       r"\bstill\s+(?:not|no|nothing|hasn'?t|haven'?t|hadn'?t|isn'?t|aren'?t|wasn'?t|doesn'?t|"
       r"don'?t|didn'?t|can'?t|cant|cannot|won'?t|waiting|getting|get|gets|being|owed|broken|"
       r"the same|charg\w+|bill\w+)\b",
       r"\b(?:also|too)\s+(?:faulty|broken|damaged|wrong)\b"),
    _f("money taken", Kind.COMPLAINT,
       r"\b(?:double|over)[- ]?(?:charg|bill)\w*",
       r"\b(?:charged|billed|debited|taken|took|take|taking)\b[^.!?]{0,40}?\b(?:twice|two times|"
       r"again|every month|each month|without)\b",
       r"\bhidden (?:charges?|fees?|costs?)\b",
       r"\bnever (?:ordered|signed up|agreed|authori[sz]ed)\b|\bwithout my (?:agreement|consent|"
       r"permission|knowledge)\b",
       r"\bwhy am i (?:paying|being charged)\b|\b(?:i'?m|i am) not paying\b|\bpay for (?:the|your)"
       r" (?:mistake|error)\b|\boverdrawn\b"),
    _f("failure", Kind.COMPLAINT,
       r"\b(?:broken|broke|smashed|shattered|cracked|damaged|scratched|dented|torn|ripped|"
       r"soaked|soggy|stale|mouldy|moldy|leak(?:s|ing|ed)?|faulty|defective|missing|lost|wrong|"
       r"incorrect|errors?|crash(?:es|ing|ed)?|fail(?:s|ed|ing|ure)?|buggy|glitch\w*|expired|"
       r"disappeared|deleted|unusable|useless|hopeless|nightmare|mess|unacceptable|misleading|"
       r"inconsisten\w*|unsafe|dangerous|rude|patronising|patronizing|baffling|confusing|"
       r"split|came (?:apart|off)|fell apart|falling apart|step down|downhill|not as described|"
       r"(?:much |far |a lot )?(?:harder|worse)|shrunk|waste|terrible|awful|horrible|appalling|"
       r"dreadful|shocking|disgusting|disgraceful|poor|bad|worst|rubbish|pathetic|ridiculous|"
       r"atrocious|abysmal|shambles|a joke)\b",
       r"\btoo (?:small|big|large|narrow|wide|short|long|loud|slow|late|early|expensive|hot|"
       r"tight|loose|thin|heavy|complicated)\b",
       r"\bso (?:loud|slow|noisy|flimsy|expensive|complicated|small)\b",
       r"\blog(?:s|ged)? me out\b|\bsent me the wrong\b|\bout of stock\b",
       r"\bordered\b[^.!?]{0,40}\b(?:got|received|sent me|came)\b",
       r"\b(?:somebody|someone) else'?s\b",
       r"\bonly (?:been )?(?:refunded|received|got|sent|delivered|credited|paid|partly)\b",
       negatable=True),
    _f("nobody", Kind.COMPLAINT,
       _PEOPLE + r"\s+(?:\w+\s+)?(?:came|come|called|calls|rang|replied|replies|answered|answers|"
       r"approached|responded|responds|got back|gets back|seemed|seems|knew|knows|told|mentioned|"
       r"explained|turned up|has|have|is|was|picks? up|picked up|helped|bothered|cares?)\b",
       r"\bnone (?:of (?:my |the )?\w+ )?(?:have|has|had|were|was|arrived|came|worked)\b"),
    _f("did not happen", Kind.COMPLAINT,
       NEG + r"\s+(?:\w+\s+){0,2}?(?:arrived?|arriving|came|come|turned up|turn up|showed up|"
       r"show up|delivered|received|heard|answered|replied|responded|called|rung|rang|knock(?:ed)?|"
       r"mentioned|work(?:s|ing|ed)?|load(?:s|ing)?|held|fit|fits|reply|respond|answer|"
       r"call(?:ed)? (?:me )?back|(?:get|got) (?:back|through)|honou?red|kept|included)\b",
       r"\bdoes nothing\b|\bstopped working\b|\bwent missing\b"),
    _f("inability", Kind.WEAK_COMPLAINT,
       r"(?:\bcan'?t|\bcannot|\bcouldn'?t|\bunable to|\bimpossible to|\bno way to|\bwon'?t let me)"
       r"\s+(?:\w+\s+)?(?:log|get|find|add|use|pay|reach|access|open|see|save|sign|load|contact|"
       r"order|download|update|change|cancel|print|remove|read|hear|face|believe)\b",
       r"\bimpossible\b|\bunavailable\b"),
    _f("broken promise", Kind.WEAK_COMPLAINT,
       r"\b(?:promised|assured|guaranteed)\b|\b(?:i was|we were) (?:told|informed)\b"),
    _f("absence", Kind.WEAK_COMPLAINT,
       r"\bno\s+(?:\w+\s+)?(?:call|calls|sign|signs|padding|notice|photos?|explanation|record|"
       r"reminder|warning|email address|contact|updates?|information|apology|way|option)\b",
       r"\bthere (?:is|was|are|were) no\b|\bnowhere\b|\bnot (?:even|once)\b|\bproblems?\b|"
       r"\bissues?\b|\bcancelled\b"),
    _f("rhetorical question", Kind.COMPLAINT,
       r"\bhow (?:is|am|are) (?:anyone|anybody|i|we|people|customers) (?:meant|supposed"
       r"|expected)\b",
       r"\bwhat(?:'s| is) the point\b|\bwhy (?:would|should) (?:i|we|anyone)\b|\bwhy bother\b"),
    _f("escalation", Kind.COMPLAINT,
       r"\bombudsman\b|\btrading standards\b|\bsolicitor\b|\bsmall claims\b|\bchargeback\b",
       r"\bformal complaint\b|\b(?:make|making|lodge|file|raise) a complaint\b|"
       r"\b(?:wish|want|have|hate) to complain\b",
       r"\b(?:moving|switching|going) to (?:a |another )?competitor\b|\bgo(?:ing)? elsewhere\b|"
       r"\btake my (?:business|custom)\b|\bposting it elsewhere\b|\bcancel my account\b"),
    _f("polite complaint", Kind.COMPLAINT,
       r"\bi'?m afraid\b|\bi am afraid\b|\bunfortunately\b|\bsadly\b|\bregret\w*\b",
       r"\bdisappoint\w*|\bfrustrat\w*|\bannoy\w*|\bmadden\w*|\blet down\b",
       r"\bi would have expected\b|\bexpected (?:much |a lot |far )?better\b",
       r"\bwith (?:all due )?respect\b|\bhard to believe\b|\b(?:it'?s a |what a |such a )?"
       r"(?:shame|pity)\b|\bnot what i (?:paid|ordered|asked|expected)\b"),
    _f("bad rating", Kind.COMPLAINT,
       r"\b(?:[0-2](?:\.5)?)\s*/\s*(?:5|10)\b|\b(?:[0-4])\s*/\s*10\b|\b(?:one|1|two|2) stars?\b"),
    _f("resolution", Kind.RESOLUTION,
       r"\b(?:sorted|fixed|resolved|solved|untangled|rectified|did the trick|went through|"
       r"without a hitch|done and dusted|all done|behind us|handled (?:it )?well)\b",
       r"\btrack(?:ed)? (?:\w+ ){0,3}down\b|\bsort(?:ed)? (?:\w+ )?out\b",
       r"\b(?:works?|working|lasts?|running) (?:\w+ ){0,2}(?:now|again)\b|\bnow works\b",
       r"\barrived (?:this morning|today|yesterday|safe\w*|intact|on time|early|a day early)\b"),
    _f("praise", Kind.PRAISE,
       r"\bgrateful\b|\bappreciat\w*|\bkudos\b|\bbravo\b|\bwell done\b|\bcommend\w*|"
       r"\bcompliments?\b|\bsuperstar\b|\bstar\b|\blegend\b|\blife ?saver\b|\bgem\b|\bace\b",
       r"\bsaved (?:my|the|our) \w+\b|\babove and beyond\b|\bout of (?:his|her|their|your"
       r"|the) way\b"
       r"|\bextra mile\b|\bpass on my thanks\b",
       r"\bdeserves? (?:a|an) (?:raise|pay rise|medal|promotion|award)\b|\b(?:give|get) (?:him|her|"
       r"them) a (?:raise|pay rise|medal)\b",
       r"\b(?:[4-5](?:\.5)?)\s*/\s*5\b|\b(?:[8-9]|10)\s*/\s*10\b|\b(?:five|5|four|4) stars?\b",
       r"\brecommend\w*|\bimpressed\b|\bpleasantly surprised\b|\bkeep (?:it up|up the good work|"
       r"doing what)\b|\blove[ds]?\b|\blovely\b|\bwonderful\b|\bbrilliant\b|\bfantastic\b|"
       r"\bexcellent\b|\bamazing\b|\bperfect(?:ly)?\b|\bdelight\w*|\bbest \w+ (?:i|in|"
       r"ever)\b|\bfab\b|\bgreat\b|\boutstanding\b|\bsuperb\b|\bdelicious\b|\btasty\b|"
       r"\bbeautiful(?:ly)?\b|\bgorgeous\b|\bspot on\b|\bwell (?:packed|made|done)\b",
       # What people praise a person for.
       r"\b(?<!my )(?<!our )(?:helpful|friendly|kind|kindness|patient|patience|polite"
       r"|courteous|efficient|"
       r"professional|knowledgeable|caring|understanding|warm|calm|cheerful|lovely|"
       r"thoughtful|considerate|attentive|reassuring|quick|prompt|tidy)\b",
       r"\b(?:was|is|are|were|a real|an absolute|such a|what a) (?:a "
       r"|an )?(?:\w+ )?(?:gentleman|gem|credit|"
       r"pleasure|joy|asset|hero|angel|breath of fresh air|help|natural)\b",
       r"\b(?:so |much |far |a lot |way )(?:better|quicker|faster|easier|simpler|nicer)\b"),
    _f("thanks", Kind.THANKS,
       r"\bthank(?:s|\s+you|\s+u)?\b|\bthanx\b|\bthx\b|\bcheers\b|\bta\b"),
)

# Thanks that are only manners: they end a request or acknowledge a letter.
COURTESY = re.compile(
    r"\bthank(?:s| you)?(?: very much| so much)? (?:in advance|for (?:your|the) (?:letter|email|"
    r"e-mail|reply|response|message|time in reading|consideration|patience))\b|\bthanks in adv\w*"
)

# A positive remark that is only sarcasm next to a complaint ("Lovely.", "Brilliant
# timing, thanks a lot."): short, with no one and nothing praised in particular.
SARCASM = re.compile(
    r"\bthanks (?:a lot|a bunch|a million|for nothing)\b|\bcongratulations\b|\bcongrats\b|"
    r"\bwell done\b|\b(?:brilliant|great|perfect) timing\b|\bgreat job\b|\bgood job\b|"
    r"\bnice one\b|\bgood one\b"
)

# A sentence that asks for something rather than judging anything.
REQUEST = re.compile(
    r"^(?:hi|hello|hey|dear \w+)?[ ,!]*(?:please|could|can|would|will|may|kindly|i'?d like|"
    r"i would like|i need|i want to|we'?d like|is it possible|is there|are there|do you|does|"
    r"did|how|when|where|what|which|who|whom|whose|are you|here it is|here is|attached|"
    r"please find)\b|\bplease (?:send|remove|find|add|change|tell|let|confirm|advise|call|"
    r"update|reset|cancel|help|could|can|arrange|check)\b|\b(?:attached|enclosed)\b"
)

# Words that point a remark at a person: praise in such a clause is about them.
PERSON = re.compile(r"\b(?:he|she|they|him|her|them|his|their|you|your|staff|team|colleague\w*"
                    r"|driver|engineer|adviser|advisor|agent|gentleman|lady|man|woman)\b")
