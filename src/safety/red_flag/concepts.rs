//! The clinical knowledge: symptom concepts with their surface forms (English and Spanish), and
//! benign look-alikes that veto them.
//!
//! A concept is one thing a caller can say about a body ("face drooping", "can't lift an arm",
//! "sugar very low"), written the many ways callers say it. Concepts carry no verdict of their
//! own: [`super::presentation`] says which concepts, alone or together, make an emergency. So "my
//! arm is numb" is a concept that only counts with "suddenly", while "I can't lift my arm" counts
//! on its own.
//!
//! Forms are in the phrase language of [`super::pattern`]; word classes keep them short. Context
//! (negation, history, "what if") is not written here: [`super::context`] applies it to every
//! mention, so each form only says what the symptom sounds like.

/// Word classes used by the forms below (and available to a clinic's own phrases). One word per
/// alternative: longer alternatives are groups in the forms themselves.
#[rustfmt::skip] // A table: one class per line.
pub const CLASSES: &[(&str, &str)] = &[
    ("chest", "chest|chess|chests|breastbone|sternum|pecho|torax"),
    ("pain", "pain*|pane|panes|hurt*|ache*|aching|achy|sore|pressure|tight*|squeez*|crush*|heav*|burning|stabbing|sharp|discomfort|killing|pounding|agony|dolor*|duele*|doliendo|presion|opresion|apret*|punzada*"),
    ("heart", "heart|hart|hearts"),
    ("sweat", "sweat*|clammy|drenched|sudando|sudor*|sudada|sudado"),
    ("nausea", "nause*|queasy|vomit*|throw*|threw|puk*|vomitar|vomitando|vomito|vomita|asco"),
    ("face", "face|smile|mouth|lip|lips|cheek|eyelid|cara|boca|rostro|sonrisa|labio"),
    ("droop", "droop*|dropp*|sag*|crooked|lopsided|uneven|slant*|slipp*|sliding|slid|fallen|falling|twisted|hanging|frozen|caida|caido|torcid*|chuec*|colgad*|ladead*|cayendo|cayo"),
    ("numb", "numb*|tingl*|dead|entumid*|adormecid*|dormid*|hormigue*"),
    ("weak", "weak*|limp|heavy|useless|paraly*|debil*|flojo|floja|flojit*"),
    ("limb", "arm|arms|leg|legs|hand|hands|foot|feet|fingers|brazo|brazos|pierna|piernas|mano|manos|pie|pies"),
    ("side", "side|half|lado|mitad"),
    ("breathe", "breath*|breth*|bree|breed|breeding|breeth*|air|respir*|aire"),
    ("blood", "blood|bloody|sangre|sangr*"),
    ("bleed", "bleed*|bled|sangr*|hemorrag*|hemorrhag*"),
    ("sudden", "sudden*|abrupt*|instantly|repente|repentin*|derrepente"),
    ("severe", "severe|worst|excruciating|unbearable|terrible|horrible|awful|agoniz*|intense|extreme|insoportable|fuertisim*|peor|brutal"),
    ("baby", "baby|babys|babies|infant|infants|newborn|newborns|bebe|bebes|bebito|bebita|nene|nena"),
    ("child", "{baby}|son|daughter|kid|kids|child|toddler|boy|girl|grandson|granddaughter|nino|nina|hijo|hija|nieto|nieta|chiquito|chiquita"),
    ("dizzy", "dizzy|lightheaded|woozy|faint|fainting|fainted|mareado|mareada|mareo*|desmay*"),
    ("testicle", "testic*|testes|testis|scrotum|scrotal|balls|ball|huevos|testiculo*|escroto"),
    ("belly", "belly|stomach|abdomen|abdominal|tummy|gut|estomago|barriga|panza|vientre"),
    ("sugar", "sugar|sugars|glucose|bs|bg|azucar|glucosa|reading|meter"),
    ("pill", "pill|pills|prescriptions|painkillers|antidepressants|opioids|narcotics|oxys|sleeping|tablets|tablet|meds|medication|medications|medicine|medicines|pastillas|pastilla|medicamentos|medicinas|capsules"),
    ("poison", "windshield|coolant|mothballs|polish|lighter|bleach|cleaner|cleaners|detergent|pod|pods|tide|battery|batteries|magnet|magnets|antifreeze|poison|drain|lye|chemical|chemicals|pesticide|pesticides|gasoline|kerosene|turpentine|acetone|remover|mouthwash|vitamins|iron|edibles|gummies|cloro|veneno|detergente|pila|pilas|bateria|baterias|iman|imanes|quimico*|insecticida|raticida|lejia|gasolina|thinner|ammonia|amoniaco"),
    ("who", "he|she|they|hes|shes|theyre|him|her|them|my|his|their|i|im"),
    // How many pills: "took ten of my heart pills".
    ("count", "two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|dozen|2|3|4|5|6|7|8|9|10|11|12|13|14|15|16|17|18|19|20|21|22|23|24|25|26|27|28|29|30|31|32|33|34|35|36|37|38|39|40|41|42|43|44|45|46|47|48|49|50|51|52|53|54|55|56|57|58|59|60"),
    // A glucose reading that is an emergency with symptoms (mg/dL): under 70 or 400 and over.
    ("sugarnumber", "10|11|12|13|14|15|16|17|18|19|20|21|22|23|24|25|26|27|28|29|30|31|32|33|34|35|36|37|38|39|40|41|42|43|44|45|46|47|48|49|50|51|52|53|54|55|56|57|58|59|60|61|62|63|64|65|66|67|68|69|400|401|402|403|404|405|406|407|408|409|410|411|412|413|414|415|416|417|418|419|420|421|422|423|424|425|426|427|428|429|430|431|432|433|434|435|436|437|438|439|440|441|442|443|444|445|446|447|448|449|450|451|452|453|454|455|456|457|458|459|460|461|462|463|464|465|466|467|468|469|470|471|472|473|474|475|476|477|478|479|480|481|482|483|484|485|486|487|488|489|490|491|492|493|494|495|496|497|498|499|500|501|502|503|504|505|506|507|508|509|510|511|512|513|514|515|516|517|518|519|520|521|522|523|524|525|526|527|528|529|530|531|532|533|534|535|536|537|538|539|540|541|542|543|544|545|546|547|548|549|550|551|552|553|554|555|556|557|558|559|560|561|562|563|564|565|566|567|568|569|570|571|572|573|574|575|576|577|578|579|580|581|582|583|584|585|586|587|588|589|590|591|592|593|594|595|596|597|598|599|600|601|602|603|604|605|606|607|608|609|610|611|612|613|614|615|616|617|618|619|620|621|622|623|624|625|626|627|628|629|630|631|632|633|634|635|636|637|638|639|640|641|642|643|644|645|646|647|648|649|650|651|652|653|654|655|656|657|658|659|660|661|662|663|664|665|666|667|668|669|670|671|672|673|674|675|676|677|678|679|680|681|682|683|684|685|686|687|688|689|690|691|692|693|694|695|696|697|698|699|700|701|702|703|704|705|706|707|708|709|710|711|712|713|714|715|716|717|718|719|720|721|722|723|724|725|726|727|728|729|730|731|732|733|734|735|736|737|738|739|740|741|742|743|744|745|746|747|748|749|750|751|752|753|754|755|756|757|758|759|760|761|762|763|764|765|766|767|768|769|770|771|772|773|774|775|776|777|778|779|780|781|782|783|784|785|786|787|788|789|790|791|792|793|794|795|796|797|798|799|800|801|802|803|804|805|806|807|808|809|810|811|812|813|814|815|816|817|818|819|820|821|822|823|824|825|826|827|828|829|830|831|832|833|834|835|836|837|838|839|840|841|842|843|844|845|846|847|848|849|850|851|852|853|854|855|856|857|858|859|860|861|862|863|864|865|866|867|868|869|870|871|872|873|874|875|876|877|878|879|880|881|882|883|884|885|886|887|888|889|890|891|892|893|894|895|896|897|898|899|900|901|902|903|904|905|906|907|908|909|910|911|912|913|914|915|916|917|918|919|920|921|922|923|924|925|926|927|928|929|930|931|932|933|934|935|936|937|938|939|940|941|942|943|944|945|946|947|948|949|950|951|952|953|954|955|956|957|958|959|960|961|962|963|964|965|966|967|968|969|970|971|972|973|974|975|976|977|978|979|980|981|982|983|984|985|986|987|988|989|990|991|992|993|994|995|996|997|998|999"),
];

/// A symptom concept: its id (what presentations and clinic phrases name) and its forms.
pub struct ConceptDef {
    pub id: &'static str,
    pub forms: &'static [&'static str],
}

/// Shorthand so the table below stays one concept per block.
const fn c(id: &'static str, forms: &'static [&'static str]) -> ConceptDef {
    ConceptDef { id, forms }
}

/// Every built-in concept. English and Spanish forms side by side: a caller switching languages
/// mid-sentence is matched word by word either way.
#[rustfmt::skip]
pub const CONCEPTS: &[ConceptDef] = &[
    // ---- chest / cardiac ----
    c("chest_pain", &[
        "{chest} ~5 {pain}", "{pain} ~6 {chest}", "(holding|clutching|grabbing|grabbed|clutched|clenching) ~3 {chest}", "{heart} ~2 hurt*|pain*|aching|squeez*|ache",
        "elephant|weight|brick|bricks|ton|tons|truck|anvil|boulder|cinderblock ~6 {chest}",
        "someone|somebody|something ~3 sitting|standing|stepping|pressing|pushing|squeezing|crushing|kneeling ~3 {chest}",
        "band|belt|vise|vice|fist ~4 {chest}", "{chest} ~3 (caving|crushed|squeezed|clamped|exploding|on fire)",
        "{chest} ~3 feels|feel|felt ~2 like ~4 squeez*|crush*|press*|sitting|weight|elephant|vise|tight|heavy|explod*|stabbed",
        "(me|le|nos) ~2 duele ~3 pecho", "aprieta ~3 pecho", "pecho ~3 apretado|aplastado|oprimido", "angina", "(tearing|ripping) ~2 (pain|feeling|sensation) ~5 (back|chest|between)", "(ripped|tore|ripping|tearing) (through|across|into) ~3 (back|chest|shoulder blades)",
    ]),
    c("heart_attack", &[
        "{heart} attack*|attach*|attacking", "ataque ~2 corazon", "ataque (cardiaco|al corazon)", "infarto*", "infartando",
        "cardiac arrest", "paro (cardiaco|cardiorrespiratorio)", "{heart} ~2 stopped", "corazon ~2 (paro|se detuvo)",
        "(no|without) pulse", "sin pulso", "(cant|couldnt) ~2 find|feel ~3 pulse|heartbeat",
    ]),
    c("chest_discomfort", &[
        "{chest} ~3 weird|funny|off|strange|wrong|uncomfortable|full|burning|fluttering|pounding|racing",
        "{heart} ~3 racing|pounding|fluttering|skipping|irregular", "{heart} ~3 beating ~2 (fast|out of)",
        "pressure ~3 {chest}", "palpitat*", "corazon ~3 acelerado|rapido|latiendo", "pecho ~3 raro|extrano|incomodo", "pressure ~3 (in the center|in the centre|in the middle|right in the middle|right in the center|center of|middle of)", "(rubbing|pressing on|pounding on|massaging) ~2 (her|his|my|their) {chest}",
    ]),
    c("radiating_pain", &[
        "{pain} ~5 down|into|up|to|radiat*|spread*|going|goes|shooting|moving ~3 arm|arms|jaw|shoulder|shoulders|back|neck|teeth",
        "left arm|shoulder ~3 {pain}|{numb}|{weak}", "jaw ~3 {pain}|clench*", "{pain} ~3 (jaw|left arm)",
        "brazo izquierdo ~3 {pain}|{numb}", "{pain} ~4 (brazo izquierdo|mandibula|quijada|espalda)", "mandibula|quijada ~3 {pain}", "between ~2 shoulder blades", "(boring|drilling|shooting|stabbing|going) ~2 (through|thru) ~4 (chest|back|front)", "(creeping|spreading|moving|going|traveling|travelling|crawling|radiating|shooting) ~2 (up|down|into) ~3 (neck|jaw|arm|arms|shoulder|shoulders|back|teeth)", "(holding|clutching|grabbing|rubbing|gripping) ~2 (her|his|my|their) left arm",
    ]),
    c("sweating", &["{sweat}", "cold sweat*", "pouring sweat", "dripping ~2 sweat", "sudor frio"]),
    c("nausea", &["{nausea}", "ganas de vomitar", "(about to|gonna|going to) throw up", "sick to my stomach", "(feel|feeling|feels|felt) (sick|queasy|like throwing up|like vomiting)"]),
    c("vomiting", &["vomit*|throwing|threw|puking|puked|vomitando|vomito|vomita|vomitado", "cant stop ~2 throwing|vomiting", "(thrown|threw|throw|throwing) up",
    ]),

    // ---- stroke (BE FAST) ----
    c("face_droop", &[
        "{face} ~4 {droop}", "{droop} ~3 {face}", "{face} ~3 (de lado|looks weird|looks different|looks wrong|melted|melting|looks funny|looks strange)",
        "{side} ~3 {face} ~3 ({droop}|{numb}|frozen|paraly*|wont move|doesnt move|not moving|gone)",
        "{face} ~3 {numb}", "{numb} ~6 {face}", "(only|just) {side} ~3 {face}", "{side} ~4 {face} ~4 (goes up|moves|works|wont|doesnt|isnt|not|{droop})", "(cant|couldnt) ~2 smile ~2 (right|properly|straight|normally|on one side|evenly)",
        "smile ~3 (wrong|one sided|lopsided|crooked|uneven|weird|off|slanted)", "eye ~2 (droop*|closing on its own)",
        "se le cayo ~3 cara|boca|labio", "se le ve ~2 cara|boca ~2 rara|chueca|caida|torcida", "se (le|me) cayo ~5 cara|boca|labio", "se (le|me) (cayo|cae|esta cayendo) ~3 (un lado|la mitad|el lado)",
    ]),
    c("limb_deficit", &[
        "{side} ~2 of ~2 (my|his|her|their|the) ~1 body ~4 ({numb}|{weak}|went|gone|wont|isnt|not|cant|doesnt|stopped|feels)",
        "{side} (my|his|her|their) body", "{side} ~3 ({numb}|{weak}|paraly*|droop*|gone|went dead)",
        "(left|right|one|izquierdo|derecho|izquierda|derecha) {side} ~4 ({numb}|{weak}|wont|isnt|not|cant|doesnt|stopped|gave|feels|went)",
        "(cant|couldnt|unable to|not able to) ~3 (lift|raise|move|feel|hold|grip|use|squeeze|lift up|pick up) ~4 {limb}|{side}",
        "{limb} ~4 (wont|isnt|doesnt|not|stopped) ~2 move|moving|work|working|respond*|lift|listen*|cooperat*",
        "{limb} ~4 (gave out|gave way|went dead|went numb|went limp|went weak|dropped|drop*|flopp*|fell|falling|drift*|just hanging|like dead)",
        "cant ~2 feel ~2 {side}", "dropping ~2 (things|everything|stuff)", "dropped ~2 (my|the) ~1 cup|phone|coffee|fork|glass",
        "cant ~2 hold ~3 cup|phone|fork|spoon|pen|anything|onto",
        "no ~2 puedo|puede|podia ~2 mover|levantar|sentir|agarrar|usar ~3 brazo|pierna|mano|lado|pie",
        "{limb} ~3 no ~2 (responde|funciona|se mueve|lo siento|la siento|tiene fuerza|me responde|le responde)",
        "{limb} ~3 (sin fuerza|muerto|muerta|colgando)", "{side} ~3 cuerpo ~3 ({numb}|{weak}|no|paraliz*|muerto|muerta)",
        "no siento ~3 {side}|brazo|pierna|mano", "{limb} ~3 (wont do|doesnt do|isnt doing|wont listen|not doing) ~1 what", "(cant|couldnt) ~2 (pick up|hold|grip|grab) ~3 (pen|cup|fork|spoon|phone|glass|anything|things|keys|teacup|mug)", "(keep|keeps|kept) (knocking|dropping) ~3 (over|things|stuff|everything|cup|teacup|glass)", "(wont|cant|doesnt|wouldnt) ~1 (hold me|support me|hold my weight|hold her|hold him)", "dropped ~2 (my|the|his|her) ~1 (keys|cup|phone|coffee|fork|glass|spoon|pen|teacup)", "no (lo|la) (puedo|puede|podia) (levantar|mover|sentir)",
    ]),
    c("limb_numb", &["{limb} ~4 {numb}|{weak}", "{numb} ~4 {limb}", "tingling ~3 {limb}", "pins and needles", "{numb}|{weak} ~4 {limb}", "{limb} ~8 {numb}", "se (me|le) (durmio|adormecio|entumio|entumecio) ~3 {limb}|{side}|cara|cuerpo",]),
    c("speech_trouble", &[
        "slurr*", "garbled", "gibberish", "jibberish",
        "words ~4 (wrong|jumbled|mixed|scrambled|mushed|slurred|nonsense|weird|funny|strange|backwards|dont make sense|make no sense|come out|coming out|wont come|not coming|arent coming|jumbling|all wrong)",
        "(cant|couldnt) ~3 (get|find|say|form) ~2 words|word|sentence|out", "(cant|couldnt) ~2 (speak|talk) ~2 (properly|clearly|right|straight|normally)",
        "(cant|couldnt) ~1 (speak|talk)", "cant understand ~3 (him|her|them|what he|what she|a word)",
        "speech ~3 slurred|weird|strange|off|thick|funny|garbled|wrong|slow|drunk", "speaking ~3 funny|weird|strange|drunk|gibberish|nonsense",
        "talking ~3 (funny|weird|strange|drunk|gibberish|nonsense|slow|slurred|like a drunk|like drunk|mumbling|wrong|backwards)",
        "sounds ~2 drunk", "tongue ~3 (thick|heavy|feels big|not working)", "mumbling", "not making sense", "(makes no sense|doesnt make sense)",
        "habla|hablando|hablar ~3 (raro|rara|chistoso|arrastrad*|enredad*|mal|incoherencias|extrano|extrana|trabad*|como borracho|como borracha)",
        "no ~2 puede|puedo|podia ~2 hablar", "no se le entiende", "no le entiendo ~2 (nada|lo que)", "arrastra ~2 palabras|lengua",
        "no (le|me) salen ~2 palabras", "se (le|me) traba ~2 lengua", "lengua ~2 trabada|pesada|dormida",
        "dice cosas ~2 (sin sentido|raras)", "palabras ~3 revueltas|mezcladas|raras", "(wrong|jumbled|mixed up|made up|scrambled|nonsense) words", "(its|is|all|just) nonsense", "using ~3 wrong words", "(comes|come|coming|came) out ~3 (wrong|as the wrong|garbled|jumbled|as nonsense|as gibberish|all wrong|backwards)", "mouth ~2 (says|said|saying) ~2 something else", "(says|said|saying|say) ~2 (the wrong word|wrong words|the wrong words)", "(struggling|struggle|struggles|hard|trouble|hardly|barely) ~2 get ~2 words out",
    ]),
    c("balance_loss", &[
        "lost|losing|lose|loses ~2 balance|footing|coordination", "off balance", "(cant|couldnt) ~3 (walk|stand) ~2 (straight|up|properly|right|without)",
        "(cant|couldnt) ~2 (stand|walk)", "keep|keeps|kept falling|fall|tipping|tilting|stumbling|veering", "(falling|fell|falls) over",
        "leaning|falling|tipping|tilting|pulling|veering ~3 (one side|to the side|sideways|to the left|to the right)",
        "stumbling|staggering|wobbling|wobbly|unsteady", "legs ~3 (gave out|wont hold)", "walking ~3 (drunk|funny|like a drunk|like drunk|crooked|weird)",
        "cant ~2 coordinate|control", "room|world|everything ~3 spinning", "vertigo",
        "perdio|pierde|perdi|pierdo ~2 equilibrio|balance|coordinacion", "no ~2 puede|puedo|podia ~2 caminar|pararse|pararme|mantenerse|sostenerse",
        "se va ~2 de lado", "tambale*", "se cae ~2 (de lado|sola|solo)", "(cant|couldnt|unable to|not able to) ~2 keep ~2 (balance|footing)", "toppl*", "(fell|falling|tipped|tipping|keeled|falls|leaning) sideways",
    ]),
    c("stroke_word", &[
        "stroke|strokes|stroking", "mini stroke", "derrame*", "embolia", "accidente cerebrovascular", "ataque cerebral", "ictus", "trombosis cerebral",
        "brain bleed", "bleeding ~2 brain", "aneurysm", "aneurisma",
    ]),
    c("sudden", &[
        "{sudden}", "out of nowhere", "of a sudden", "de la nada", "de golpe", "de repente", "came on ~2 (fast|quick|suddenly|all at once)",
        "just ~2 (happened|started|now|came on|hit)", "minutes ago", "minute ago", "an hour ago", "few minutes", "woke up ~4 with|and|like|this",
        "hit me", "all at once", "right now", "hace ~2 minutos|rato", "ahorita", "just woke up",
        "this morning", "started ~3 ago", "in the last ~2 hour|hours|minutes", "within ~2 minutes|seconds",
        "immediately", "from one moment to the next", "de un momento a otro", "(never|not) (been|acted|looked|seen him|seen her) like this", "(was|were) (fine|normal|okay|ok|completely normal|totally fine|perfectly fine) ~4 (and now|at lunch|at breakfast|this morning|an hour ago|a minute ago|minutes ago|until|then)", "in an instant", "all of a sudden",
    ]),

    // ---- breathing ----
    c("cant_breathe", &[
        "(cant|couldnt|barely|hardly) ~2 {breathe}", "cant ~2 catch ~2 {breathe}", "cant get ~3 air|breath|enough",
        "(cant|couldnt) ~2 finish ~2 sentence*|words|talking", "(not|isnt|stopped|quit|wasnt|hasnt|stops) ~1 breathing", "no longer breathing",
        "(struggling|fighting|gasping|laboring|labored|straining|working hard) ~3 {breathe}", "gasp*", "suffocat*", "smother*",
        "chok*", "choak*", "something stuck ~3 throat", "stuck in ~2 throat|windpipe",
        "(turning|turned|going|gone|getting|looks|is) ~2 blue|purple|gray|grey|dusky|bluish",
        "lips|lip|face|skin|fingernails|nails|fingers|mouth ~3 blue|purple|gray|grey|dusky|bluish",
        "wheez* ~4 (bad|badly|severe|severely|cant|scary|loud|terrible|really)", "asthma ~2 attack*", "asthma ~4 (bad|worst|cant|not helping|isnt)",
        "inhaler|nebulizer|puffer ~5 (not|isnt|doesnt|wont|didnt|nothing|no) ~2 work*|help*|doing",
        "ribs|chest|belly|stomach ~3 (sucking in|pulling in|caving in|sinking in)",
        "no ~2 puedo|puede|podia|pudo|pueden ~2 respirar", "no respira", "falta ~3 aire", "faltando ~2 aire", "(le|me) falta ~1 aire",
        "ahog*", "dificultad ~2 respirar", "(le|me) cuesta ~3 respirar", "sin aire", "no (le|me) entra ~2 aire",
        "atragant*", "labios ~3 morad*|azul*", "se ~1 esta ~1 poniendo ~1 morad*|azul*", "se puso ~1 morad*|azul*", "jadeando", "silbido ~3 pecho", "(not able to|unable to) ~1 {breathe}", "inhalador ~4 no ~3 (hace|sirve|funciona|ayuda|haciendo|esta)", "inhalador ~3 (no sirve|no funciona|no ayuda|no hace nada)", "(not|isnt|arent|wasnt) {breathe} (right|normal|normally|properly|well|good)", "(face|lips|skin) ~3 (gray|grey|ashen|blue|purple)", "inhaler|nebulizer|puffer|albuterol ~9 (doing nothing|not helping|isnt helping|not working|isnt working|useless|didnt help|hasnt helped|not doing anything|isnt doing anything|no help|does nothing|did nothing)", "(attack|wheezing|breathing) ~4 (isnt|wont|not|hasnt) ~1 (stop*|better|improv*|helping|easing)", "(through|thru) a straw", "(rasping|raspy|rasps) ~4 (breath*|sound*|noise*|trying|gasp*)", "(lips|lip|face|skin|fingernails|nails|fingers|mouth) ~4 (grayish|greyish|ashen|bluish|purplish|blue|gray|grey|purple)", "(trying|tries|struggling) ~1 to ~1 {breathe} ~3 (sounds|noise|noises|rasp*|gasp*|wheez*)",
    ]),
    // Wheeze alone is asthma a clinic sees every day; with an allergen, hives or a rescue
    // inhaler that fails it is an airway closing.
    c("wheezing", &["wheez*", "whistl* ~3 (chest|breath*|breathing)", "chest ~3 whistl*", "silbido*", "silba ~3 pecho", "chiflido ~3 pecho"]),
    c("short_of_breath", &[
        "short ~1 of ~1 {breathe}", "shortness ~1 of ~1 {breathe}", "out of breath", "winded", "breathless", "trouble|hard|difficulty|difficult|problem ~3 {breathe}",
        "{breathe} ~3 hard|heavy|fast|weird|funny|strange|shallow|rattling|noisy|gurgling|labored|rapid|quick|short",
        "cant ~3 (deep breath|full breath|take a breath)", "breathing ~2 really|so|very ~1 fast|hard", "short winded", "sob",
        "falta de aire", "respira ~2 (rapido|raro|muy rapido|con dificultad)", "me cuesta respirar", "respiracion ~2 rapida|agitada|dificil", "agitad*", "(not able to|unable to) breathe", "breathless*", "chest ~3 (whistling|wheezing|rattling)",
    ]),

    // ---- pulmonary embolism ----
    c("calf_swelling", &[
        "calf|calves|leg|legs|thigh ~4 swollen|swelling|swelled|puffy|red|hot|tender|painful|hurts|hurting|huge|twice|bigger|warm|throbbing|killing",
        "swollen|swelling|puffy|red ~3 calf|calves|leg|thigh", "pantorrilla|pierna|chamorro ~3 hinchad*|roja|caliente|duele|inflamad*",
        "hinchazon ~3 pierna|pantorrilla",
    ]),
    c("clot_word", &["blood clot*", "clot*", "dvt", "deep vein", "coagulo*", "trombo*", "pulmonary embol*", "embolism", "embolia pulmonar"]),

    // ---- anaphylaxis ----
    c("airway_swelling", &[
        "throat|tongue|lips|lip|mouth|face|eyes|eye|garganta|lengua|labios|labio|cara|boca|ojos|epiglottis ~4 swell*|swollen|puff*|clos*|tight*|thick|hinch*|cerr*|huge|blow*|balloon*|big|bigger|inflam*",
        "swell*|swollen|puff*|hinch* ~3 throat|tongue|lips|face|garganta|lengua|labios|cara|boca",
        "throat ~3 clos*|tight*|narrow*|thick|shut", "(cant|couldnt) ~2 swallow*", "(trouble|hard|difficulty) ~2 swallow*", "no ~1 puedo|puede|podia ~1 tragar",
        "se (le|me) cierra ~2 garganta", "garganta ~3 cerrando|cerrada", "cerrando ~3 garganta", "(cerrando|hinchando) ~3 (garganta|lengua|labios|cara)", "(lips|lip|tongue|throat|face|mouth|eyes) ~4 (swole|swolen|swolled|swollen up|blown up|puffed up)",
    ]),
    c("anaphylaxis_word", &[
        "anaphyla*", "anafila*", "anafala*", "anaphalax*", "({severe}|serious|bad|major|big|scary|massive) ~2 allerg* ~2 reaction*",
        "reaccion ~2 alergica ~2 grave|fuerte|severa|seria", "allergic ~2 reaction ~3 cant|throat|swell*|hives|breath*",
        "(used|gave|give|giving|injected|inject|had to use|jabbed|stabbed|administered|usar|use|usamos|le pusimos|le puse) ~4 epipen*|epi|epinephrine|adrenalin*|epinefrina",
        "epipen ~4 (used|didnt|isnt|not|helped)",
    ]),
    c("hives", &["hives", "welts", "ronchas", "urticaria", "broke out ~3 (all over|everywhere|rash)", "rash|itchy|itching ~3 (all over|everywhere|spreading)", "red bumps ~2 (all over|everywhere)"]),
    c("allergen_exposure", &[
        "stung|sting|bee|bees|wasp|wasps|hornet|yellowjacket",
        "ate|eating|eaten|had|bite|bit|tasted|swallowed ~4 peanut*|nut|nuts|shellfish|shrimp|crab|lobster|cashew*|almond*|sesame|fish|eggs|something",
        "peanut*|shellfish|shrimp|cashew*", "new ~1 medicine|medication|antibiotic|pill", "penicillin|amoxicillin|sulfa|antibiotic*",
        "picadura|pico|pique ~3 abeja|avispa", "comio|comi ~3 mani|cacahuate|nuez|nueces|camaron*|mariscos", "allerg* ~2 to", "alergi*|alerg*",
    ]),

    // ---- bleeding ----
    c("bleeding", &["{bleed}", "blood ~2 (coming|pouring|dripping|running|everywhere|all over)", "hemorrhag*"]),
    c("bleeding_severe", &[
        "{bleed} ~4 (lot|heav*|badly|bad|profuse*|everywhere|much|mucho|bastante|through|soaked|soaking|nonstop|like crazy|out of control|gushing|spurting|pouring)",
        "{bleed} ~4 (wont|cant|not|doesnt|isnt|wouldnt|hasnt) ~2 (stop*|slow*|let up)", "{bleed} ~4 (keeps|keep|is still|still)",
        "(wont|cant|doesnt|not|never|wouldnt|isnt|hasnt|no) ~1 (stop*|slowing) ~2 {bleed}",
        "blood ~4 (everywhere|gushing|spurting|pouring|squirting|pooling|pumping|wont stop|all over)",
        "(soaked|soaking|gone through|went through|filled|filling|bled through|soaking through) ~5 towel*|pad|pads|bandage*|gauze|shirt|sheets|toalla*|gasa*|trapos",
        "(pool|puddle|pools) ~2 of ~1 blood", "(so much|lots of|a lot of|tons of|too much|mucha|tanta|un charco de) ~1 {blood}",
        "spurt*|gush*|pour*|squirt*|pump* ~3 {blood}|bleed*", "no (para|deja) ~2 de ~1 sangrar", "sangra ~2 (mucho|muchisimo|sin parar|bastante)",
        "sangrado ~2 fuerte|abundante|mucho", "sangre ~3 (por todos lados|por todas partes|a chorros|no para)", "hemorragia",
        "cut ~4 (deep|to the bone|artery|wont close|gaping|wide open)", "artery", "amputat*", "cut off ~2 finger|fingers|hand|toe", "spurt*|squirt*|gushing", "pressing ~6 (wont|doesnt|isnt|hasnt) ~1 stop*", "(so much|lots of|a lot of|tons of|too much) (bright red|dark red|fresh|red) blood", "(nosebleed|nosebleeds|bloody nose|nose bleed|nose bleeding|nose is bleeding) ~8 (wont|cant|doesnt|hasnt|not|isnt|wouldnt) ~1 (stop*|slow*)", "(nosebleed|bloody nose|nose bleed|nose bleeding) ~4 (over|more than|for) ~2 (hour|hours|an hour|half an hour|30 minutes|forty minutes)", "(nosebleed|bloody nose|nose bleeding) ~8 (pouring|gushing|down my throat|down his throat|down her throat|blood thinner*)",
    ]),
    c("pregnant", &[
        "pregnant", "pregnancy", "weeks along", "expecting", "trimester", "embarazada", "embarazo", "semanas de embarazo",
        "miscarr*", "aborto espontaneo", "(perdiendo|losing) ~2 (bebe|baby)", "(im|i am|i m) ~1 {count} weeks", "{count} weeks (pregnant|along)",
    ]),
    c("blood_up", &[
        "cough*|vomit*|throw*|threw|spit*|puk*|tosiendo|tose|tosio|vomitando|vomita|vomito|escupiendo|escupe ~6 {blood}|clots|coffee",
        "{blood} ~4 vomit*|throw*|threw|cough*|spit*", "coffee grounds", "hematemesis", "vomito ~2 (con sangre|negro)", "(threw up|throwing up|throw up|vomited|vomiting|puked|puking|coughed up|coughing up|cough up) ~8 (blood|bright red|clots)",
    ]),
    c("black_stool", &[
        "black|tarry|tar|maroon|bloody ~3 stool*|poop*|bm|bms|bowel*|diarrhea|poo|feces|movement*",
        "stool*|poop*|poo|diarrhea ~3 (black|tarry|tar|like tar|bloody|maroon)",
        "heces|popo|excremento|evacuacion* ~3 (negr*|sangre|con sangre)", "negro ~2 como ~1 chapopote|alquitran", "(pooping|passing) ~2 blood",
    ]),

    // ---- consciousness / seizure ----
    c("unresponsive", &[
        "unresponsive", "unconscious", "inconsciente", "(passed|passing|passes|pass) out", "(blacked|blacking|black) out",
        "fainted|fainting|faints", "keeled over", "(wont|cant|isnt|not|couldnt|doesnt|never|didnt) ~2 (wake*|waking|respond*|responding|answer*|react*|come to|come around|open his eyes|open her eyes|open eyes)",
        "no response", "not moving", "isnt moving", "wont move", "out cold", "lifeless", "limp ~3 (not|and)",
        "collaps*", "dropped ~3 (to the floor|to the ground|like a rock|like a stone)", "fell ~3 (to the floor|to the ground|down and not)",
        "found ~3 (on the floor|on the ground|unconscious|not breathing|lying)", "knocked (out|unconscious)", "barely conscious", "in and out of consciousness",
        "(lost|losing) consciousness", "eyes ~2 (rolled|rolling) ~2 back", "not waking", "cant ~2 wake", "wont wake",
        "desmay*", "no ~2 (despierta|reacciona|responde|contesta|se mueve|se despierta)", "no abre ~2 ojos", "(perdio|perdi|pierde) ~2 conocimiento|sentido|conciencia",
        "se cayo ~3 y no", "se quedo ~2 (tiesa|tieso|inconsciente|sin moverse)", "no hay respuesta", "se fue ~2 al piso", "(woke up|came to|found myself|came around) ~3 (on the floor|on the ground|on the bathroom floor|on the kitchen floor)", "how long ~3 (i|he|she) (was|had been) out", "(was|were) out cold", "(was|were|been|went) out for ~2 (a minute|a few|a second|minute|minutes|seconds|a bit|a moment|a while)", "knocked (him|her|me|them) out",
    ]),
    c("seizure", &[
        "seiz*", "seizer*", "sezure*", "siezure*", "seasure*", "ceasure*", "convuls*", "having a fit", "fitting",
        "shaking ~4 (uncontrollab*|all over|wont stop|and not|jerking|violently|on the floor|eyes)", "jerk* ~4 (all over|arms and legs|on the floor|uncontrollab*|body)",
        "body ~3 jerking|shaking|stiff|rigid", "stiff as a board", "foam* ~3 mouth", "ataque ~1 (epileptico|de epilepsia)", "convulsion*", "convulsionando",
        "temblando ~3 (sin control|todo)", "se puso ~1 rigido|rigida|tieso|tiesa",
    ]),

    // ---- headache, vision, confusion ----
    c("headache", &[
        "headache*", "head ~3 {pain}|pounding|explod*|splitting|throbbing|killing", "pain ~3 in ~2 head", "migraine*", "dolor ~2 de ~1 cabeza",
        "cabeza ~3 duele|explot*|estalla|revienta|dolor", "jaqueca", "(grabbed|holding|clutching|grabbing|clutched) ~2 head", "(in|at|on) the (back|top|side|front|base) of (my|his|her|the|their) (head|skull)",
    ]),
    c("headache_worst", &[
        "worst ~4 (headache*|head pain|pain of|pain in my|pain ive|pain ever)", "thunderclap",
        "head|headache ~4 like ~4 hit|struck|explod*|bat|hammer|lightning|bomb|gunshot|shot|kicked|split",
        "head ~4 (explod*|about to explode|going to explode|gonna explode|blew up|burst|splitting open)",
        "{sudden} ~4 (headache*|head pain|pain in my head|pain in his head|pain in her head)",
        "(headache*|head pain) ~5 ({sudden}|out of nowhere|came on|hit me|hit her|hit him|like a)",
        "peor dolor ~2 de ~1 cabeza", "dolor ~2 de ~1 cabeza ~3 ({sudden}|horrible|insoportable|muy fuerte|el peor|explot*|como nunca)",
        "cabeza ~3 explot*|estalla|revienta", "never had a headache ~2 (like this|this bad)", "headache ~3 never had", "explot* ~3 cabeza", "(explod*|burst|popped|snapped|went off|blew) ~6 (in|inside) ~3 head|skull|brain", "trueno|rayo|explosion|bomba|balazo ~3 cabeza",
    ]),
    c("vision_loss", &[
        "(cant|couldnt|unable to|not able to) ~2 see ~4 (out of|from|in|with|on|anything|a thing|at all|left|right|one)",
        "(lost|losing|loss of) ~5 vision|sight|eyesight", "vision|sight|eyesight|eye ~3 (went|gone|going|is|turned) ~2 black|dark|blind|blank|gray|grey|white|out",
        "(went|gone|going|suddenly) ~2 blind", "curtain|shade|veil|shadow ~5 eye|vision|over|across|down|sight",
        "half|part|side ~4 vision|sight ~3 gone|missing|black|dark|blank|blurry", "(seeing|see) double", "double vision", "seeing two ~1 of", "everything doubled",
        "blind ~3 in ~2 eye", "(blind|dark|black) spot ~3 eye|vision", "no ~2 (veo|ve|puede ver|puedo ver|podia ver) ~3 ojo|nada|lado|bien|de",
        "(perdi|perdio|pierde) ~2 vista|vision", "se (le|me) nublo ~2 vista", "vista ~3 negra|oscura|doble", "(veo|ve) doble", "como una cortina",
        "cant see", "(went|gone|turned|is|going) ~1 (black|dark|blank|gray|grey|white) ~4 eye|eyes|vision|sight", "sight|vision ~5 (just went|went out|is gone|gone|disappeared|vanished)", "disappeared|vanished ~3 vision|sight", "(negro|oscuro|negra|oscura) ~3 ojo", "(half|side|part) of (what|everything) ~5 (vanished|disappeared|missing|gone|black|dark|blank)", "(left|right) side of everything ~4 (missing|gone|black|dark|blank)", "(missing|gone|black|dark) in (both|one) eye*", "(sight|vision|eyesight) ~3 (dimmed|dimming|faded|fading|blacked out|went out|switched off|shut off|turned off|went dark)", "(black|dark|gray|grey|blank) (spot|blotch|patch|area|hole|smudge|cloud|shadow|curtain) ~7 (eye|vision|sight)", "(cant|couldnt) ~2 (read|see) ~4 (with|out of|in|from) ~2 eye", "se (me|le) fue ~2 vista", "(perdi|perdio) ~3 vista ~3 ojo",
    ]),
    c("vision_blur", &["blurry|blurred|blurring|fuzzy|foggy|hazy|cloudy|dim ~3 vision|eye|eyes|sight", "vision|eye|eyes|sight ~3 blurry|blurred|fuzzy|foggy|hazy|cloudy|dim", "flashing lights", "borros*", "(visions|sights|eyes) ~3 (blurry|blurred|fuzzy|foggy|hazy|cloudy|dim|gone blurry)"]),
    c("confused", &[
        "confus*", "disoriented", "disorientated", "delirious", "incoherent", "out of it", "not making sense", "(doesnt make sense|makes no sense)",
        "(talking|saying) nonsense", "saying ~2 weird|strange|crazy|random ~1 things|stuff",
        "(doesnt|dont|didnt|cant|wont) ~1 know ~3 (where|who|what day|what year|his name|her name|me|us|anyone)",
        "(doesnt|didnt|cant|wont) ~1 recogni*", "not ~1 herself|himself", "acting ~2 strange|weird|drunk|crazy|funny|strangely|odd|off|bizarre",
        "(cant|couldnt) ~2 think ~2 straight|clearly", "brain fog", "spaced out", "zoned out", "staring ~3 (blank*|off|into space|at nothing)",
        "forgot ~3 (who|where|my name|her name|his name)", "keeps ~2 asking ~2 same", "asking the same question", "not with it", "loopy",
        "confundid*", "desorientad*", "no ~1 sabe ~3 (donde|quien|que dia|su nombre)", "no ~2 me ~1 reconoce|conoce", "no reconoce", "dice cosas ~2 (sin sentido|raras|incoherentes)",
        "incoherente", "no esta ~2 en si", "como perdid*", "esta ~1 rara|raro|extrana|extrano", "no tiene sentido ~2 lo que dice", "muddled", "(foggy|fuzzy) ~2 (head|headed|thinking)", "(keeps|keep|kept) asking ~2 (who i am|who we are|where she is|where he is|where she was|where he was|where i am|who i was|what day|what year|who he is|who she is)", "calling (me|us|her|him) ~3 (wrong name|by my|by the wrong|someone elses|by her|by his)", "(dont|doesnt|didnt|cant|couldnt) ~1 recogni* ~3 (my own|his own|her own|me|us|anyone|anybody|family|wife|husband|son|daughter|mom|dad|house|home|bedroom|room|where)", "(cant|couldnt|trying to|struggling to|doesnt|dont|didnt|cannot) ~1 remember ~4 (own name|own address|her name|his name|my name|daughters name|sons name|wifes name|husbands name|kids names|address|how i got|how he got|how she got|where i live|where he lives|where she lives|where i am|where i was)", "(forgot|forgotten|forgetting) ~3 (own name|own address|own kids|own children|where i live|where he lives|where she lives)", "(thoughts|thinking|mind|brain|head) ~4 (scrambled|jumbled|mixed up|all mixed|muddled|garbled)", "incoherencia*", "no sabe ~3 como se llama", "(cant|couldnt) ~2 (work out|figure out|tell) ~2 where (i|he|she|we) (am|is|was|are)", "got lost ~5 (driving|walking|on the way) ~4 (home|road|route|street)", "(so|all|really|very|completely|totally|suddenly) ~1 mixed up", "(not|isnt|arent|aint) making (no|any) sense", "losing track of ~3 (what|where|saying|thoughts)", "(getting|got|get|am|im|is|hes|shes|keep getting) ~1 mixed up ~3 (about where|where|what day|who|what year|about what)", "(cant|couldnt) ~1 make sense of (what|anything|words|the words|my|it)",
    ]),

    // ---- poisoning, burns, head injury ----
    c("overdose", &[
        "overdos*", "od", "oded", "too many ~3 ({pill}|pain pills|sleeping pills|tylenol|advil|oxy*|xanax|percocet*|gummies|edibles)",
        "took|swallowed|ate|taken|had|popped|chugged|drank|downed ~4 whole|all|entire|bunch|handful|fistful|box|bottle|pack ~3 {pill}|tylenol|advil|aspirin",
        "whole|entire ~2 bottle|box|pack|package ~3 of|{pill}",
        "(swallowed|drank|ate|got into|chewing on|chewed|licked|eaten|eating|drinking|sipped|took|had) ~4 {poison}|{pill}",
        "got into ~3 medicine|pills|cabinet|meds|purse", "poison*", "envenen*", "intoxic*", "carbon monoxide", "monoxido", "co alarm|detector|detectors",
        "alarm ~3 carbon|co|monoxide", "fumes ~4 headache|dizzy|sick|passed|everyone", "gas ~3 leak|smell ~5 dizzy|headache|sick|passed|faint",
        "se ~1 tomo|tomaron|trago|comio|bebio ~4 pastillas|todas|frasco|cloro|veneno|{poison}|medicina|medicinas",
        "se metio ~2 a la boca ~2 {poison}|pastilla*", "se trago ~3 {poison}|pastilla*|una|algo", "too much ~2 insulin|fentanyl|heroin|methadone|oxy",
        "fentanyl", "heroin", "narcan", "naloxone", "pinpoint pupils", "tomo ~2 demasiad*", "sobredosis", "(took|swallowed|taken|had|popped) ~3 (too many|too much|extra|double|twice|a bunch|a lot)", "(took|swallowed|taken|popped) ~3 {count} ~4 ({pill}|of my|of his|of her|instead of)", "instead of (one|1|two|2) ~3 ({pill}|pill|tablet)", "(doubled|tripled) up", "(swallowed|ate|drank|got into|chewed|licked|eaten|eating|drinking|took) ~6 {poison}", "(pill organizer|pillbox|pill box|pill bottle|medicine bottle|pill case|pill container|med box) ~8 (empty|missing|gone|half|open|opened)", "(found|caught) ~4 (with|into|in) ~3 (pills|pill organizer|pill bottle|medicine|meds|pillbox|medicine cabinet)", "(drunk|drank|drinked|swallowed|swallow|drink) ~4 {poison}", "(lethal|fatal|deadly) dose",
    ]),
    // A doubled or wrong dose: harmless for most pills, an overdose with drowsiness, slow
    // breathing or confusion (opioids, insulin, sedatives).
    c("extra_dose", &[
        "(double|doubled|triple|tripled|extra|second) ~1 (dose|dosed|dosing|doses|dosage)", "(took|taken|gave|given) ~4 (twice|two doses|both doses|again) ~4 (by mistake|by accident|accidentally|forgot)",
        "(took|taken|gave|given) ~3 (it|them|my|his|her) ~3 twice", "(dosis doble|doble dosis)",
    ]),
    c("burn", &["burn|burns|burned|burnt|scald*|quemadura*|quemo|quemado|quemada"]),
    c("burn_severe", &[
        "burn|burns|burned|burnt|scald*|quemadura*|quemo|quemado|quemada ~5 (bad|badly|severe*|deep|blister*|huge|large|big|whole|all over|face|hands|hand|chest|skin|peel*|white|black|charred|leathery|electric*|chemical|acid|boiling|grease|oil|fire|gasoline|third|second|hot water|stove|arm|legs|back|bubbl*|cara|mano*|grave|fuerte|toda|todo|pecho|brazo|espalda|aceite|agua)",
        "(caught|catch|catching|on) fire", "clothes ~3 fire", "se prendio ~2 fuego", "en llamas",
        "electrocut*", "electric shock", "shocked by", "got (shocked|zapped)", "touched ~3 (wire|outlet|power line)", "struck by lightning", "se electrocuto",
        "(boiling|hot|scalding) water|oil|grease|coffee|soup|tea ~5 (on|over|spilled|all over|poured|fell|splashed)", "(spilled|poured|knocked) ~5 boiling|hot|scalding",
        "(acid|bleach|lye|chemical|chemicals|drain cleaner|oven cleaner) ~4 (eye|eyes|face|skin|splash*|in his|in her|in my)", "splash* ~4 eye*|face ~3 chemical|acid|bleach|cleaner",
        "skin ~3 (peeling|coming off|white|black|charred|melted|bubbling)", "(agua|aceite) hirviendo", "quimico ~3 ojo*|cara", "cloro ~3 ojo*", "(boiling|scalding|hot) (water|oil|grease|coffee|tea|soup) ~7 (all over|on his|on her|on my|down|over|onto) ~2 (chest|arms|face|body|legs|back|him|her|me|arm|hand|hands)", "skin ~4 (blister*|bubbl*|white|peeling|charred|raw)", "(kettle|pot|pan|boiling|scalding|hot oil|grease|fryer) ~6 (onto|on|over|all over|down) ~3 (his|her|my|their) (chest|arms|face|body|legs|back|belly|stomach|neck)", "(blistered|blistering|blisters) ~4 (all over|chest|arms|face|body|legs|back|white)",
    ]),
    c("head_hit", &[
        "hit|hitting|bumped|banged|smacked|struck|cracked|whacked|slammed|knocked|bonked|bashed ~4 head|skull|forehead", "fell ~6 head|skull|forehead",
        "head ~3 injur*|wound|trauma", "head first", "concussion", "golpe*|pego|pegaste|pegue ~4 cabeza|frente", "se (cayo|golpeo|pego) ~5 cabeza",
        "car accident|crash|wreck", "(fell off|fell down|fell from|fall from|falling off) ~3 stairs|ladder|roof|bike|horse|bed|tree|scaffold*|balcony|bunk",
        "down the stairs", "hit by a car", "(lo|la) atropell*", "accidente ~2 de ~1 carro|coche|auto|moto",
    ]),
    c("drowsy", &[
        "sleepy|drowsy|lethargic|groggy", "(wont|cant|hard to|not) ~1 (stay|staying|keep) ~1 awake", "keeps ~2 (falling asleep|passing out|nodding off|dozing)",
        "hard to wake", "cant ~2 keep ~2 eyes open", "nodding off", "somnolient*", "muy dormid*", "no se mantiene ~1 despiert*", "se queda dormid*", "(barely|hardly) ~1 keep ~2 eyes open",
    ]),
    c("blood_thinner", &[
        "blood thinner*", "warfarin", "coumadin", "eliquis", "xarelto", "apixaban", "rivaroxaban", "anticoagul*", "plavix", "heparin", "pradaxa",
        "adelgazar ~2 sangre",
    ]),
    c("fluid_ear_nose", &["(clear fluid|blood|liquid) ~4 ear|ears|nose", "ear|ears|nose ~3 (clear fluid|leaking)", "one pupil", "pupils ~3 different|uneven|unequal|big|huge", "sale ~3 liquido ~3 oido|nariz"]),

    // ---- infection, fever, sepsis ----
    c("fever", &[
        "fever*", "temp|temps|temperature", "feverish", "burning up", "febrile", "101*|102*|103*|104*|105*|106*", "hot to the touch",
        "fiebre", "calentura", "temperatura", "ardiendo ~2 en fiebre", "volando en fiebre",
    ]),
    c("stiff_neck", &[
        "stiff ~2 neck", "neck ~4 (stiff|rigid|locked|wont bend|cant bend|hurts to bend|cant move|hurts to move|so sore|cant touch)",
        "cant ~4 bend|touch|put|move ~3 chin|neck|head ~2 (down|forward|to chest)", "chin ~3 chest",
        "light ~3 (hurts|bothers|burns|painful|cant stand)", "cant stand ~2 (light|the light)", "cuello ~3 (rigido|tieso|duro|no puede mover|no puede doblar)",
        "(le|me) molesta ~2 luz", "no aguanta ~2 luz",
    ]),
    c("rash_nonblanching", &[
        "rash|spots|dots|blotches|marks ~8 (doesnt|dont|wont|isnt|arent|not|didnt) ~3 (fade|go away|disappear|blanch|change|go white|go pale|fading|vanish)",
        "glass ~6 (rash|spots|dots|blotches|marks|still see|can still)", "press* ~5 spots|rash|dots ~3 still|stay|dont",
        "purple|dark|maroon ~2 spots|dots|blotches|pinpricks|pinpoints|rash", "petechia*", "purpura",
        "manchas|puntitos|puntos|sarpullido|ronchas ~6 no ~2 (desaparecen|se quitan|se borran|se van|cambian)", "manchas ~2 moradas|oscuras",
        "vaso ~5 manchas|puntos|sarpullido|sigue", "bruis* ~3 (everywhere|all over|out of nowhere|spreading)", "(manchit*|puntit*|pintit*) ~6 no ~2 (desaparecen|se quitan|se borran|se van|cambian)", "(manchit*|puntit*|pintit*) ~2 (moradas|moraditas|oscuras|rojas)",
    ]),
    c("infection", &[
        "infection*", "infected", "cellulitis", "uti", "pneumonia", "incision", "wound", "surgery", "abscess", "red streak*", "pus", "kidney infection",
        "infeccion*", "infectad*", "herida", "cirugia", "operacion", "pulmonia", "neumonia", "strep", "flu", "covid",
    ]),
    c("mottled", &[
        "mottled", "blotchy", "marbled", "skin ~3 (gray|grey|blue|purple|ashen|mottled|blotchy|cold and clammy|like marble|clammy|pale and cold|weird color)",
        "moteada|moteado|manchada|manchado|marmolead*", "piel ~3 gris|morada|fria|rara|manchada", "ice cold", "freezing cold", "cold to the touch", "hands and feet ~2 (cold|ice)",
    ]),
    c("rigors", &[
        "shaking|shivering|trembling|chills ~4 (uncontrollab*|cant stop|wont stop|so hard|violently|teeth)", "teeth ~2 chattering", "rigors",
        "escalofrios ~3 (fuertes|no para*|horribles)", "temblando ~3 de frio",
    ]),
    c("feels_dying", &[
        "feel|feels|felt|feeling ~4 like ~3 (dying|going to die|gonna die|about to die|die|im dying|hes dying|shes dying)", "think ~3 (im|hes|shes|she is|he is|i am) ~1 dying",
        "(im|hes|shes|is) ~2 dying", "sense of doom", "something ~3 (terribly|really|very) wrong",
        "siento ~3 que ~2 (me muero|me voy a morir)", "se esta muriendo", "me estoy muriendo", "se muere", "sensacion ~3 muerte",
    ]),
    c("low_urine", &["(hasnt|havent|not|no|barely) ~2 peed|peeing|pee|urinated|urinating|wet|diaper*", "no wet diaper*", "dry diaper*", "no ~2 ha ~1 (orinado|hecho pipi|mojado)", "panal ~2 seco"]),
    c("sepsis_word", &["sepsis", "septic", "septicemia", "septic shock", "blood infection", "infeccion ~2 en la sangre"]),

    // ---- children ----
    c("baby", &["{baby}", "(month|months|week|weeks|day|days) old", "(meses|semanas|mes|dias) de nacid*", "recien nacid*", "(hes|shes|he is|she is|is only|only|just|baby is) {count} (months|month|weeks|week)", "(hes|shes|he is|she is|is only|only|just|baby is) (one|a) (month|week)",
    ]),
    c("young_infant", &[
        "newborn*", "recien nacid*", "(1|2|3|4|5|6|7|8|9|10|11|12|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|few|couple) (week|weeks) old",
        "(1|2|one|two|a) (month|months) old", "(1|2|3|4|5|6|7|8|9|10|11|12|una|dos|tres|cuatro|cinco|seis|siete|ocho) (semanas|semana) (de nacido|de nacida|de vida)",
        "(un|uno|1|dos|2) (mes|meses) (de nacido|de nacida|de vida)", "(day|days) old", "dias ~2 de nacid*", "(shes|hes|she is|he is|is only|only|just|baby is) (1|2|3|4|5|6|7|8|9|10|11|12|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|a few|a couple) ~1 (week|weeks)", "(shes|hes|she is|he is|is only|only|just|baby is) (one|a|1|two|2) (month|months)", "(tiene|cumplio|de) (un|uno|1|dos|2) (mes|meses)", "(tiene|cumplio|de) (1|2|3|4|5|6|7|8|9|10|11|12|una|dos|tres|cuatro|cinco|seis|siete|ocho|nueve|diez|once|doce) (semana|semanas)",
    ]),
    c("not_feeding", &[
        "(not|wont|isnt|hasnt|refus*|stopped|doesnt|didnt|cant) ~3 feed*|eat*|nurs*|drink*|bottle|breastfeed*|latch*|suck*|formula|milk",
        "no ~2 quiere|puede|ha ~2 comer|tomar|mamar|pecho|biberon|leche|comido|tomado", "no come", "no toma ~2 leche|pecho|biberon",
    ]),
    c("floppy", &[
        "limp", "floppy", "lifeless", "rag doll", "ragdoll", "no muscle tone", "not moving", "wont move", "barely moving", "like a noodle",
        "listless", "lethargic", "wont wake", "hard to wake", "cant wake", "not waking", "wont stay awake", "keeps sleeping", "so sleepy", "wont open ~2 eyes",
        "not crying", "weak cry", "high pitched cry", "inconsolab*", "not responding", "staring",
        "flojit*", "aguadit*", "sin fuerza", "no se mueve", "no despierta", "muy dormid*", "no llora", "llanto ~2 debil|agudo", "no reacciona", "desguanzad*",
        "sunken|bulging ~3 (soft spot|fontanel*)", "soft spot ~3 sunken|bulging|sunk", "mollera ~3 hundida|abultada",
    ]),
    c("grunting", &["grunt*", "nostrils ~2 flaring|flare", "ribs ~3 show*|sucking|pulling|caving", "head bobbing", "quejid*", "se le hunden ~2 costillas", "aletea ~2 nariz"]),

    // ---- abdomen, testicles ----
    c("testicle_pain", &[
        "{testicle} ~5 {pain}|swollen|swelling|twist*|hurt*|killing|huge|hard|high|black|purple", "{pain} ~5 {testicle}",
        "twisted ~2 testic*", "torsion", "kicked ~3 {testicle}", "groin ~3 {pain}", "{pain} ~3 groin", "le duele ~3 {testicle}",
    ]),
    c("belly_pain", &[
        "{belly} ~4 {pain}|cramp*|killing|rigid|hard|swollen|distended|bloated|board", "{pain} ~5 {belly}|side|pelvis", "cramp*|cramping",
        "appendix", "appendicitis", "apendic*", "(me|le) duele ~3 {belly}", "dolor ~3 {belly}|vientre|costado",
        "doubled over", "curled up ~3 pain", "cant ~2 straighten ~2 up", "side ~3 {pain}", "lower right", "right side ~3 {pain}",
    ]),
    c("rigid_belly", &[
        "{belly} ~4 (rigid|hard|board|rock|swollen|distended|tight|tense|like a rock|hard as)", "cant ~3 touch ~3 {belly}", "hurts to touch",
        "hurts to ~2 move|walk|breathe", "cant ~2 move|walk|stand ~3 pain", "panza|estomago|barriga ~3 dura|durisima|hinchad*|tiesa", "no se puede mover ~3 dolor", "(hard|rigid|tight|stiff) ~2 (like|as) ~1 (a rock|a board|stone|wood)",
    ]),

    // ---- diabetes ----
    c("sugar_bad", &[
        "{sugar} ~5 (low|dropping|dropped|crashed|crashing|tanked|bottomed|plummet*|high|through the roof|sky high|way up|over|bajo|baja|bajisim*|alta|alto|altisim*|se bajo|se subio|hi|lo)",
        "low ~2 {sugar}", "high ~2 {sugar}", "hypo", "hypoglyc*", "hyperglyc*", "hipoglucemi*", "hiperglucemi*", "{sugar} ~3 20|25|30|35|40|45|50|400|450|500|550|600|700",
        "meter ~3 says|reads|reading ~2 hi|high|lo|low", "insulin ~4 (too much|double|twice|wrong)", "too much insulin", "demasiada insulina", "se inyecto ~3 insulina",
        "diabet* ~4 (shaking|confused|sweat*|not making|passed|wont|cant|vomit*|throwing)", "(meter|sugar|glucose|reading|number|bg|bs|glucometer|monitor) ~3 (said|says|reads|read|is|was|showed|shows|at|of) ~2 {sugarnumber}", "(took|taken|take|gave|did) ~3 insulin ~6 (skipped|didnt eat|havent eaten|hasnt eaten|no food|without eating|forgot to eat|missed|not eaten)", "{sugar} ~3 (en|de|a|at|of|is|was|reads|esta en|in the) ~2 (veinte|treinta|cuarenta|cincuenta|sesenta|twenty|thirty|forty|fifty|sixty|quinientos|seiscientos|cuatrocientos)", "{sugar} ~3 (en|de|a|at|of|is|was|reads|esta en|in the) ~2 {sugarnumber}", "diabet* ~5 (skipped|didnt eat|havent eaten|hasnt eaten|missed|not eaten) ~2 (lunch|dinner|breakfast|a meal|meals|eating|food)", "(cant find|need|where is|wheres|get me) ~2 (my juice|juice|glucose tabs|glucose tablets|glucose gel|candy|sugar)",
    ]),
    c("fruity_breath", &[
        "breath ~4 (fruity|sweet|smells like nail polish|smells like acetone|smells like fruit)", "fruity ~2 breath", "dka", "ketoacidosis", "cetoacidosis", "ketones ~3 high|large|dark",
        "aliento ~3 (dulce|a fruta|acetona)",
    ]),
    c("shaky", &["shak*|shaking|trembl*|jittery|sweaty|temblor*|temblando|tembloros*|sudoros*|clammy"]),

    // ---- modifiers shared by many presentations ----
    c("severe", &[
        "{severe}", "(really|so|very|super|extremely|incredibly) bad", "10 out of 10", "ten out of ten", "muy fuerte", "fuertisimo",
        "can barely ~2 move|stand|walk|talk", "screaming|crying|writhing ~3 pain", "never felt ~3 pain like", "pain ~2 like ~2 never",
        "agony", "doubled over", "cant ~2 bear",
    ]),
    c("dizzy_or_faint", &[
        "{dizzy}", "(about|going|gonna) ~2 (pass out|faint|black out)", "(feel|feels|feeling) faint", "(almost|nearly) (passed out|fainted|blacked out)",
        "vision ~2 going dark", "everything ~2 going (black|dark)", "(se va|me voy) a desmayar", "light headed",
    ]),
    c("child", &["{child}", "(year|years|yr|month|months) old", "(ano|anos) de edad"]),

    // ---- asks for help ----
    c("ambulance", &[
        "(need|send|get|call|calling|called|want) ~3 ambulance|paramedics|paramedic|emt|emts|911", "ambulance", "ambulancia", "paramedicos", "llamar ~2 911",
        "help ~2 (me|us|him|her) ~1 please ~2 (now|fast|hurry)", "(somebody|someone) help", "ayuda ~2 por favor ~2 (rapido|ya)",
    ]),

    // ---- crisis (988) ----
    c("suicidal", &[
        "suicid*", "sucid*",
        "kill|killing|kills|shoot|shooting|hang|hanging|drown|drowning|poison|poisoning|off|offing|overdose|overdosing|od myself|himself|herself|themselves|themself|yourself",
        "(end|ending|ended|take|taking|took|cut short) ~2 (my|his|her|their) ~2 (own life|life|lives)", "end it all", "end everything", "end things", "end it (tonight|today|now|for good|soon)",
        "(want|wanted|wants|wanna|wish|wishing|wished|ready|trying|try|going|gonna|decided|plan|planning|planned|like|love) ~4 (to die|be dead|not exist|disappear forever|not be here|not be alive|not wake up|never wake up|sleep forever|be gone|stop existing|no longer exist)",
        "want|wanted|wants|wanna ~2 die|dead",
        "better off ~4 (without me|without him|without her|dead|if i was gone|if i wasnt here|if i were gone|if i died|if im gone|when im gone)",
        "world ~4 better ~2 without me", "(nobody|no one) ~3 miss me", "no one would ~2 care if",
        "(dont|doesnt|didnt) ~1 want ~1 to ~2 (live|be here|exist|be alive|wake up|go on|keep going|keep living|be around|see tomorrow|be on this earth)",
        "(no point|no reason|no use) ~4 (living|live|going on|being here|being alive|in anything|in life|to life|continuing|trying|anymore|waking up)",
        "whats the point ~4 (living|going on|anymore|of anything|of life|in living|of being|of me|of waking)",
        "(thinking|thought|thoughts|think|thinks|fantasiz*|dreaming|dream) ~2 (about|of) ~3 (dying|death|ending|killing|suicide|not being here|not waking up|being dead|ending it|my funeral|disappearing)",
        "pills ~4 (ready|lined up|counted|saved|stashed|set aside|on the table)", "(saved|saving|stockpil*|collect*|hoard*|hiding|stashing) ~4 {pill}",
        "gun|rope|noose|knife|blade|razor|bullets|pistol ~5 (ready|loaded|myself|tonight|to end|to use on|waiting|in the garage|in my lap|to my head|in my mouth)",
        "loaded ~2 gun|pistol", "(said|saying|say|written|wrote|writing|write) ~3 (goodbye*|final goodbye|last goodbye|my goodbyes)",
        "goodbye ~3 letter*|note*|message*", "suicide note", "note|letters|letter ~4 (for when im gone|for my kids|to my kids|to my family|explaining why|to everyone)",
        "(giving|gave|give) away ~3 (my|things|stuff|belongings|possessions|everything)", "last time ~3 (you hear from me|anyone hears)", "(wont be around|wont be here) ~3 (much longer|tomorrow|next week)",
        "(jump|jumping) ~4 (off|from|in front|bridge|building|roof|overpass|cliff|train|traffic)", "(step|walk|stepping|walking) ~3 in front of ~2 train|car|bus|truck|traffic",
        "(drive|driving|crash|crashing) ~4 (into|off) ~3 wall|tree|bridge|cliff|traffic|pole|river", "(drive|driving|crash|crashing) ~4 on purpose",
        "(hurt|harm) myself ~3 (tonight|badly|for good|so it ends)",
        "(cant|dont want to) ~2 (go on|keep going|do this|take it|live) ~2 (anymore|any longer)", "tired of ~2 (living|being alive|life|existing|being here|waking up)",
        "want ~3 it ~2 to ~1 (stop|end) ~2 (for good|forever|permanently)", "want ~2 everything ~2 to ~1 end|stop", "wish ~3 (i|he|she) ~3 never ~2 born|wake|woke",
        "wish ~3 (i|he|she) ~1 (was|were|could) ~1 dead|gone|die|disappear", "hope ~3 (i|he|she) ~1 (dont|doesnt|never) ~1 wake", "go to sleep ~3 and ~2 (not|never) ~2 wake",
        "burden ~3 (everyone|family|all of you|to my)", "everyone ~4 better ~2 without", "nobody would ~2 notice|care",
        "(quiero|quiere|quisiera|queria) ~2 (morir*|matarme|matarse|suicidarme|suicidarse|desaparecer|dejar de existir|acabar con todo|quitarme la vida|quitarse la vida|no despertar|no estar)",
        "(me|se) quiero|quiere ~1 morir|matar|suicidar", "me voy a ~1 (matar|suicidar|quitar la vida)",
        "no (quiero|quiere) ~2 (vivir|seguir viviendo|despertar|estar aqui|seguir|existir)", "ya no ~2 quiero|quiere ~2 vivir|seguir|estar",
        "matarme", "matarse", "suicidarme", "suicidarse", "(quitarme|quitarse) la vida", "acabar ~2 con ~2 (todo|mi vida|su vida)",
        "mejor ~4 (sin mi|sin el|sin ella|muerto|muerta|si no estuviera|si me muero)", "estarian mejor ~2 sin", "no vale la pena ~2 vivir|seguir",
        "no tiene sentido ~2 vivir|seguir", "pensando ~2 en ~3 (matarme|morir|suicid*|quitarme|acabar)", "pastillas ~4 listas|guardadas|juntas",
        "tengo ~4 pastillas ~3 para|listas|guardadas", "despedirme", "despedi* ~2 de todos", "cartas ~3 (despedida|mis hijos|mi familia)", "nota de despedida",
        "regalando ~2 mis cosas", "tirarme ~3 puente|edificio|tren|carro", "aventarme", "no aguanto ~2 (mas|vivir)", "ya no puedo mas", "(to|gonna|going to|want to|wanna|ready to) end it", "(overdos*|took|swallowed|cut|hurt|burned|od) ~5 (on purpose|intentionally|deliberately|a proposito)", "(use|using|turn|turning|point|pointing) ~3 on (myself|me|himself|herself)", "(thinking|thought|think|thinks) ~2 (about|of) ~2 (jumping|hanging myself|shooting myself|overdosing|driving off|pulling the trigger|taking all|swallowing all|slitting)", "(rope|noose) ~5 (garage|basement|attic|beam|ceiling|rafter|rafters|tied|tie|look at it|keep going)", "(how many|enough) ~5 ({pill}|tablets) ~6 (not wake|never wake|to die|kill me|to kill|end it|be fatal|be lethal)", "(looked up|look up|looking up|googled|googling|searched|searching|researched|researching|reading about) ~6 (how to die|ways to die|to not wake|to kill myself|lethal|end it|hang|painless)", "(made|have|got|making|came up with) ~1 a plan ~6 (when and how|how and when|to die|to end|to kill|how to do it|how im going to)", "i know (when and how|how and when|how im going to do it)", "(dont|doesnt|not) ~1 feel ~1 safe ~2 (with|around|by) (myself|himself|herself)", "(scared|afraid|terrified|frightened) of what ~1 (ill|i will|i might|i could|i would|im going to|he might|she might|hell|shell|he will|she will) ~2 do", "(picturing|imagining|picture|imagine|visualiz*) ~5 (steering|driving|crashing|swerving|jumping|ending it|dying|killing|my funeral|being dead)", "(stopped|stop|quit|quitting) wanting to (live|be alive|be here|exist|wake up|go on)", "(hit by a bus|didnt wake up|died tomorrow|never woke up) ~5 (relieved|wouldnt mind|be okay|be fine|be glad|be happy)", "(done|finished) with (life|living|it all|everything|this life|being alive)", "ready to be done", "(dont|cant|doesnt|no) ~1 see ~2 (reason|point|purpose) ~3 (living|live|go on|going on|keep living|being here|keep going|to be here)", "(reason|point|purpose) ~2 to keep (living|going|being here)", "(wants|want|going|threatening|about|trying|ready) to jump", "(standing|sitting|stood) on (the|a) (bridge|ledge|roof|railing|edge|overpass|rooftop)", "(on|at) the (edge|ledge) of (the|a) (bridge|roof|building|cliff)", "better off ~4 (sin mi|sin el|sin ella)", "pensando ~2 en ~3 (tirarme|aventarme|colgarme|ahorcarme|envenenarme|dispararme|matarme)", "(want to|going to|ready to|try to) and (my|his|her) life", "(cant|dont want to) ~2 (go on|keep going|do this|take it|live) ~2 no more", "(dont|doesnt|didnt) ~1 want ~1 to ~2 (be here|live|exist|be alive|go on) ~1 no more", "(dont|doesnt) deserve to (live|be alive|be here|exist|wake up)", "(everyone|everybody|they|my family|my kids|the world|people) ~4 (better|happier|easier) ~3 (if i|without me|when i|once i)", "disappear* (for good|forever|permanently)", "(everyone|everybody|they|my family|my kids|the world|people) ~4 (better|happier|easier) ~3 (if i|without me|when i|once i)", "disappear* (for good|forever|permanently)", "(the|my) only way out", "only way out (of this|now|left)", "(close|closing|shut) my eyes ~3 (never|not) ~1 (open|wake)", "let go of the (railing|rail|ledge|edge)", "(wish|wishing|hope|hoping|pray|praying|wished) ~4 (hit by|run over|struck by) ~2 (bus|car|truck|train)", "so (it|this|everything) (would|will|could) (all|just) ~1 (be over|end|stop)", "(rather|sooner) ~1 (be dead|die|not be here|not exist|not be alive|not wake up)", "dormir* ~1 y (ya no|no|nunca) (despertar|volver a despertar)", "dormir* (para|y) (no|nunca) ~1 despertar*", "(se|me) va a (matar|suicidar|quitar la vida)", "va a (matarse|suicidarse)", "(saving|saved|stockpiling|collecting|hoarding) ~3 enough ~5 (not wake|never wake|die|end it|to die|kill)", "enough (to|so i) (not|never|dont|wont) wake up", "(wanting|wishing|longing) to (die|be dead|not exist|disappear)", "if (im|i am) (still|even) (alive|around|here) (by then|then|next)", "(wont|will not|not going to) be (alive|around|here) ~3 (for|to see|by|much|next|then|anymore)", "(giving|gave|give|given) ~3 (things|stuff|belongings|possessions|everything) away", "wont need (them|it|anything|my things|these|those) ~2 (much longer|for long)", "(is|be|way) to (not exist|die|not be here|stop existing|end it|not be alive)", "(theyd|theyll|they would|everyone would|everybody would|they will) ~3 (better|happier|easier) ~3 (if i|without me|when i|once i)", "(happier|better|easier) ~4 if (i|im) (was|were|am) (dead|gone)", "(just|only) ~1 waiting (to die|for death|to be dead)", "waiting to die", "(hope|hoping|hoped|praying|pray|wish|wishing) ~3 (i|he|she|id) ~1 (dont|doesnt|never|wont|wouldnt) ~1 wake", "(googling|googled|looking up|looked up|searching|searched|researching|reading about|how many|how much) ~8 (lethal|fatal|deadly)", "not (planning|going|gonna|expecting) (to be|on being) (around|here|alive) ~2 (by then|then|much longer|for long|next|anymore)", "(think|thinking|thought|thoughts) ~3 (about|of) ~2 (steering|driving|swerving|crashing|veering) ~3 (into|off)", "(steering|swerving|veering) ~2 into ~2 (a|the|oncoming) (tree|wall|pole|truck|traffic|river|lake|bridge|oncoming|semi)", "(thinking|thought|think|thoughts) ~2 (about|of) ~2 (taking|getting|grabbing|using) ~4 (gun|pistol|rifle|rope)", "(taking|getting|grab*|using) ~3 gun ~6 (stop|end|over|done)", "(thinking|thought|think|thoughts) ~2 (about|of) ~2 (swallowing|taking|downing|chugging) ~2 (whole|entire|all) ~2 (bottle|pills|box|pack|of them)", "(life|living) ~2 (isnt|is not|not|no longer|aint) ~1 worth ~2 (living|it)", "(isnt|not|no longer) worth living", "(working out|figuring out|planning|planned|thinking about|decided) how (id|i would|im going to|i will|to|i could) (do it|end it|kill|die)", "guardad* ~3 pastillas", "(tomarmelas|tomarme|tomarlas) ~2 todas", "(pienso|voy a|quiero) (tomarmelas|tomarme|tomar) ~3 todas", "(got|have|saved|counted) ~3 pills ~8 (take|swallow) (them|it|all) ~4 (tonight|today|now|at once)", "(take|swallow|taking) (them|it) all ~3 (tonight|today|now|at once)",
    ]),
    c("self_harm", &[
        "cut|cutting|cuts|burn|burning|burned|hurt|hurting|harm|harming|hit|hitting|scratch*|carve|carving|punching|starving myself|himself|herself|themselves|themself",
        "self (harm*|injur*|mutilat*)", "selfharm*", "cutting ~3 (again|my arms|my wrists|my legs|my thighs)", "cut ~2 (my|his|her) wrists|arms|thighs",
        "razor|blade|blades|knife ~5 (myself|my arm|my wrist|wrists|skin|thigh|legs)", "burning ~2 myself ~2 with", "cigarette ~3 (on my|burns on my)",
        "cortarme", "cortarse", "me corto", "se corta", "me estoy cortando", "lastimarme", "lastimarse", "(hacerme|hacerse) dano", "quemarme", "me quemo ~2 a proposito",
        "me lastimo", "se lastima", "me hago dano", "(dont|doesnt) deserve (food|to eat)", "(waste|wasting) away", "starv* ~2 (myself|on purpose|to death)", "(not|stopped|barely) ~2 eat* ~5 on purpose", "(razor|blade|razor blade|knife|scissors|glass|shard) ~5 (my skin|my arms|my wrists|my legs|my thighs|her arms|his arms|her skin|his skin)", "(cutting|cut|slicing|slice|carving|carve|opening up|open up) ~3 (my|her|his) (skin|arms|arm|wrist|wrists|thighs|legs|stomach)", "to feel something", "(burning|burns|burned|burnt|burn) ~2 (my|her|his|their) (arms|arm|skin|legs|hands|wrists|thighs|stomach) ~3 (lighter|cigarette|cigarettes|iron|match|matches|on purpose|purposely)", "(lighter|cigarette|cigarettes|hot knife) ~4 (on|to|against) ~2 (my|her|his) (arm|arms|skin|legs|wrist|wrists)", "(cortando|cortarme|cortarse|quemando|quemarme|quemarse|lastimando|lastimarme|lastimarse|golpeando) ~3 (los brazos|las piernas|las munecas|la piel|el brazo|la muneca|a proposito|otra vez)", "(estado|estoy|esta|sigue|sigo|estaba) ~1 (cortando|quemando|lastimando)", "(carving|carve|carved) ~4 (into|in|on) (my|his|her) (thigh|thighs|arm|arms|skin|leg|legs|wrist|wrists|stomach)", "(my|his|her) (thigh|thighs|arm|arms|wrist|wrists|skin|legs|leg|stomach) ~3 with ~2 (a|my|the) ~1 (razor|blade|knife|razor blade|scissors|lighter)", "(until|till) (it|i) (bleeds|bleed|bled)", "(keep|keeps|kept) (banging|hitting|punching|slamming) (my|his|her) head", "(hate|hating) myself ~6 (hurt|cut|burn|hit|bang|punch)",
    ]),
    c("harm_others", &[
        "kill|hurt|shoot|stab|strangle|murder|beat|harm|choke|smother|poison|drown ~3 (him|her|them|someone|somebody|everyone|people|my wife|my husband|my boss|my roommate|my neighbor|my kids|my baby|my son|my daughter|my mom|my dad|coworkers|the baby|my brother|my sister|my boyfriend|my girlfriend|my partner|my ex|my coworker|my teacher|my landlord)",
        "(going to|gonna|want to|wanna|thinking about|will|plan to|planning to|urge to|tempted to|about to|ready to|could) ~3 kill|hurt|shoot|stab|murder|strangle|harm|snap",
        "voices ~5 (hurt|kill|harm|telling me)", "homicid*", "shoot up ~2 (the|my|a) ~1 school|office|work|place|church", "bring ~2 gun ~3 work|school",
        "matarlo", "matarla", "matarlos", "matar a", "(hacerle|hacerles) dano", "lastimar a", "lastimarlo", "lastimarla", "lastimarlos", "voy a (matar|lastimar)", "(have|got|grab*|bring*|taking|take|with) ~2 (a|my|his|her|the) (knife|gun|bat|weapon|machete|crowbar|hammer|pistol|rifle) ~7 (going|go|heading|drive|driving|on my way|coming|walking) ~2 (over|to|there)", "(crack|bash|smash|break|split|cave|beat) ~3 (his|her|their) (skull|head|face|brains)", "(going|go|heading|coming) ~2 (over there|there|over) with (a|my|his) (bat|gun|knife|crowbar|hammer|machete|pistol)", "(going to|wants to|threatening to|says he will|says she will|will) ~4 (shoot|stab|kill|hurt|beat|strangle) ~2 (our|the|my|his|her|their|that|a) ~1 (neighbor|neighbour|boss|wife|husband|kids|coworker|manager|teacher|family|girlfriend|boyfriend|ex|landlord)", "(coming back|come back|going back|go back|going|go) ~3 to (hurt|kill|shoot|stab|get) (the|my|his|her|them|him|everyone|everybody)", "get (his|my|her) gun and (shoot|kill)", "(le|les|lo|la) voy a (hacer dano|matar|pegar|lastimar|disparar|golpear)", "voy a (matarlo|matarla|matarlos|golpearlo|lastimarlo|lastimarla)", "(tengo|traigo|agarre|agarro) ~1 (un|una|mi) (cuchillo|arma|pistola|navaja|machete) ~6 (voy|ir|vamos|en camino)", "(going|go|heading|coming) ~2 (over there|there|over) ~2 with (a|my|his) (bat|gun|knife|crowbar|hammer|machete|pistol|rifle)", "make (him|her|them) pay ~6 (gun|knife|weapon|bat|rifle|pistol)", "(gun|knife|weapon|bat|rifle|pistol) ~6 make (him|her|them) pay", "(strangling|strangle|stabbing|shooting|killing|hurting|smothering|poisoning|beating|murdering) ~2 (my|his|her|our|the) ~1 (boyfriend|girlfriend|wife|husband|partner|boss|roommate|neighbor|neighbour|kids|baby|son|daughter|mom|dad|mother|father|brother|sister|coworker|ex|family)", "(thoughts|thinking|fantasies|fantasizing|urges|urge) ~2 (about|of|to) (strangling|killing|hurting|stabbing|shooting|smothering|drowning|harming|strangle|kill|hurt|stab|shoot)", "make (every one of them|all of them|them all|everyone|everybody|every last one) pay", "(bring|bringing|take|taking) ~3 (to work|to school|to the office|to class) ~5 (pay|kill|hurt|shoot|sorry|regret)",
    ]),
];

/// Which mentions a benign look-alike vetoes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VetoScope {
    /// Any concept it overlaps.
    All,
    /// Only crisis concepts (idioms of death and killing: "this wait is killing me" is not 988,
    /// but "my chest is killing me" is chest pain).
    Crisis,
}

/// Benign look-alikes: a symptom word in a harmless sense. Each vetoes the mentions it overlaps.
#[rustfmt::skip]
pub const BENIGN: &[(VetoScope, &[&str])] = &[
    (VetoScope::All, &[
        // Exertion, explained and ordinary.
        "(out of breath|winded|breathless|short of breath) ~4 (after|from|when|climbing|walking|running|jogging|exercise|exercising|stairs|workout|gym|hike|hiking|chasing|carrying|playing)",
        "(after|from|when) ~3 (running|jogging|workout|exercise|the gym|climbing|the stairs) ~3 (out of breath|winded)",
        // Things, not people.
        "engine|car|motor|truck|transmission|pipes|lock|bolt|screw|joints|knee|back|brakes|shoulder ~3 seized|seizing|seize",
        "seized ~3 car|property|assets|house|account|bank|goods|drugs|passport",
        "stock|market|battery|phone|laptop|computer|car|plant|plants|engine|tv|wifi|printer|signal|conversation|party ~3 died|dying|dead",
        "stroke ~2 of ~1 (luck|genius|fortune|midnight|brilliance|the pen|a pen)", "(breast stroke|breaststroke|backstroke|brush stroke|brush strokes|swim stroke|strokes of)",
        "heart attack ~3 (of a|price|bill|prices|on a plate)", "(gave|give|gives|giving) (me|him|her|us|them) a heart attack",
        "(told|tell|tells|said|says|warned|advised|instructed) (me|us|him|her|them|you) ~2 call 911 (if|when|whenever|should)",
        "(should|do|would) (i|we|you) ~1 call 911 or", "(not|isnt|arent|wasnt) breathing (fast|quickly|rapidly|hard|heavily|heavy)",
        "choking ~1 on ~2 (paperwork|forms|bills|work|debt|deadlines|emails|stress|fees|prices|copays)", "almost had a heart attack ~3 (when|at|seeing|price|bill)",
        "bleeding ~2 (money|cash|me dry|us dry|heart|edge|out of|ink|colors|colours)", "bleeding heart",
        "blood drive|bank|donor|donation|type|work|draw|panel|pressure|sugar|count|test|tests|results|orange|moon",
        "choke|choking|choked ~3 (hazard|on my words|under pressure|back tears)", "choked up",
        "(blew|blow|blowing) ~2 (my|his|her) mind", "drop dead (gorgeous|beautiful)", "dead tired|battery|end|serious|wrong|set|silence|line|zone|air|calm",
        "(passed|pass) out (flyers|papers|candy|tests|pamphlets)", "passed away",
        "blackout ~2 curtains|blinds|dates|period", "(power|electricity) ~2 (blackout|outage|went out)",
        "(foot|leg|arm|hand) ~3 (fell asleep|falls asleep|asleep)",
        "sunburn*", "heartburn", "razor burn", "burning ~2 when ~2 (i|he|she) (pee*|urinat*)", "burn the midnight", "(burned|burnt) out", "burnout", "burn calories",
        "(burned|burnt) ~3 (toast|food|dinner|rice|popcorn|the pan|the cake|bridges)", "got burned ~3 (by|on the|deal)", "quemando ~2 calorias",
        "confused ~2 (about|by|with|on|as to|regarding|over|because)", "(little|bit) confused", "confusing", "confusion about", "confundid* ~2 con|sobre|por",
        "cant ~2 (talk|speak) ~2 (right now|now|long|today|much|at the moment|for long|loud|english|spanish|louder|freely|on the phone|right this)",
        "cant ~2 see ~3 (the|a|any) ~2 appointment|doctor|option|slot|reason|point|way|email|text|link|website|screen|button|number|portal|message|bill|schedule|times|calendar",
        "cant ~2 see ~2 him|her|them ~2 until|till|before|next|this|today|tomorrow",
        "(cant|couldnt) ~2 see ~3 doctor|dr|provider|pediatrician|specialist|dermatologist|nurse",
        "cant wait", "cant stand ~2 (waiting|the wait|it when|him|her|my|the)", "(cant stand|cant stomach) ~2 it",
        "(killing|killed) ~2 (it|time|the game)", "kill ~2 (time|the lights|the engine|two birds)", "my feet are killing me",
        "falling ~2 (behind|apart|in love|for)", "fell ~2 (in love|behind|for)", "losing ~2 (my mind|it|my temper|my patience|weight|sleep|my voice|hair|my hair)",
        "cant ~2 breathe ~2 through ~2 (my|his|her) nose", "(stuffy|stuffed|blocked) ~2 nose", "nose ~3 stuffed|stuffy|blocked|congested",
        "hot flash*", "night sweats", "sweating ~2 the ~1 (small stuff|bullets|it)",
        "swollen ~3 ankles|feet ~3 from|after|pregnancy|standing|flight",
        "face ~3 swollen|swelling ~4 from|after|since ~3 (dental|dentist|tooth|teeth|wisdom|filling|extraction|root canal|crying|sleeping)",
        "(dental|dentist|tooth|wisdom|filling|extraction|root canal) ~5 swollen|swelling|numb",
        "numb|numbing ~4 from|after ~3 dentist|dental|shot|injection|novocaine|anesthesia|filling|procedure", "numbing cream", "numb to", "numb from the cold",
        "{limb} ~4 numb|tingl*|asleep ~4 from|after|when ~3 sitting|sleeping|sleep|typing|laying|lying|cold|crossed|kneeling|carpal",
        "carpal tunnel", "neuropathy", "sciatica", "pinched nerve",
        "allergies ~3 (acting up|season|seasonal)", "seasonal allerg*", "allergy shot*", "allergy test*", "allergy ~2 appointment|medicine|meds|pills|refill",
        "epipen ~3 (prescription|refill|renew*|expired|new one|replacement|script|school|form)", "(refill|renew|renewal|prescription|new|replace) ~4 epipen*",
        "nosebleed*", "bloody nose", "paper cut", "shaving cut", "cut ~3 (shaving|on paper)",
        "morning sickness", "(car sick|carsick|seasick|motion sick*)", "sick ~2 (of|and tired|day|note|leave|kid|call)",
        "throwing ~2 (a party|up a ball|out|away|shade|it away)", "threw ~2 (out|away|a party)",
        "gas (station|bill|prices|tank|money)", "poison (ivy|oak|control)", "food poisoning ~3 last|yesterday|mild",
        "acne", "pimple*", "rash ~3 from ~2 detergent|lotion|soap|sun|heat|shaving|poison", "diaper rash", "heat rash",
        "sugar (free|cookie|cookies|cane|daddy|coated)", "cup of sugar", "sugar ~3 in ~2 coffee|tea", "high blood pressure", "low blood pressure ~3 medication|meds|pill",
        "dying ~2 to|for", "dying of ~1 laughter|boredom|embarrassment|curiosity|jealousy", "dying ~2 (my|her|his|the) hair", "(dye|dyed|dyeing) ~2 hair",
        "bored to death", "scared to death", "to death ~2 of", "worried sick", "sick with worry", "die ~2 laughing", "could just die",
        "me muero ~2 de ~1 ganas|hambre|risa|sueno|frio|calor|verguenza|aburrimiento", "(muerto|muerta) ~2 de ~1 hambre|cansancio|sueno|risa|frio",
        "ataque ~2 de ~1 risa|nervios|panico|celos|ansiedad", "(panic|anxiety) attack",
        "vision ~2 insurance|plan|exam|test|appointment|check|screening|center", "eye (exam|doctor|appointment|drops|glasses|contacts)", "(new|reading|need) glasses",
        "double ~2 check|booked|booking|charged|billed",
        "(testing|test|tests|screening|screen|scan|mri|ct|xray|ultrasound|echo|ekg|ecg|labs|lab|bloodwork) ~3 (for|to check|to rule)",
        "headache ~3 of ~2 (a|dealing|paperwork|insurance|this|billing)", "what a headache", "such a headache", "(giving|gives) me a headache", "migraine ~2 meds|medication|prescription|refill|specialist|clinic",
        "lost ~2 my ~1 voice|keys|wallet|phone|card|job|appetite|weight|insurance",
        "(can hardly|can barely) ~2 wait", "barely ~2 (slept|sleep|ate|eat|made it)", "(out of breath|winded|breathless|short of breath) ~5 (ran|run|5k|10k|race|marathon|jogged|biked|swam|sprinted|danced|workout|hike|hiked|climbed|soccer|basketball)", "(passed|pass|passing) out ~4 (like|i mean) ~1 (fell|fall|falling) asleep", "(laughed|laughing|laugh) ~9 (couldnt|cant|could not) breathe", "(couldnt|cant) breathe ~3 (laughing|from laughing)", "unresponsive ~3 (website|site|portal|app|page|system|screen|computer|phone|link|button)", "(website|site|portal|app|page|system|screen|computer|link|button) ~3 unresponsive", "collapse ~3 (appointments|visits|two|them|these|into|both)", "para (darme|darle|darte|dar) un infarto", "(factura|cuenta|precio|precios|cobro|recibo) ~4 infarto", "(the|a) way out ~2 (of the|is through|door|exit|building|parking|lot)", "(plants|plant|tomatoes|tomato|garden|weeds|lawn|grass|flowers|roses|tree|trees|crops) ~3 (choking|choked|dying|dead|suffocating|drowning)",
    ]),
    (VetoScope::Crisis, &[
        "dying ~2 to|for", "killing (me|time|it|us|them)", "kill for", "kill two birds", "could ~2 kill ~3 for|him|her|them|my", "would kill ~2 for",
        "kill ~2 my ~1 buzz|time|vibe|battery|lights|engine", "to death", "(is|was|looks|look|looked|are|were|its|thats|absolutely|simply|view|cake|food|dress|body) ~2 to die for", "die laughing", "could just die", "dead (tired|end|serious|set|wrong|on)",
        "dying ~2 (my|her|his|the) hair", "me muero ~2 de", "die ~2 of ~1 embarrassment|shame|boredom", "killed ~2 it", "it kills me", "kills me ~2 to|when|how",
        "hurt myself ~3 (playing|at|lifting|working|exercising|running|skiing|moving|yesterday|last|gardening|cooking)",
        "(hurt|cut|burned|burnt|hit) myself ~3 (on|with|while|by accident|accidentally|cooking|shaving|playing|lifting|chopping|gardening|working|moving|at|yesterday|last|falling|fell|slipped|tripped|when|trying)",
        "accidentally ~3 (cut|burned|burnt|hurt) myself", "by accident", "sin querer",
        "me corte ~3 (cocinando|con un|sin querer|rasurando|afeitando)", "me queme ~3 (cocinando|con|sin querer|la mano|el dedo)",
        "kill me (if|when|for)", "(will|would) kill me", "(gonna|going to) kill me ~3 (if|when|for)",
        "mom|mother|dad|father|wife|husband|boss|teacher ~3 (will|would|is going to|gonna) kill me",
        "(going to|gonna) kill ~2 (it|this|the interview|the test|that)", "kill this", "murder ~2 (a|the) burger|pizza|coffee",
        "suicide (squad|doors|prevention|awareness)", "volunteer ~4 suicide|crisis", "crisis (line|hotline) ~2 volunteer",
        "(overdose|od) ~2 on ~2 coffee|caffeine|chocolate|sugar|candy|netflix|tv|love|sun",
        "end ~2 it ~3 with ~2 (him|her|my boyfriend|my girlfriend|the relationship)", "(end|ending) ~2 things ~3 with|between", "break up",
        "end my (subscription|membership|contract|lease|insurance|plan|coverage|shift|day|call|session)",
        "my life ~2 (is|was) ~2 (so|too) busy", "want to disappear ~3 (for a while|on vacation|for a week|weekend)", "take my own life ~3 (back|into my own hands)", "(want|wanted|wanna|wanting) ~1 to die of ~1 (embarrassment|shame|boredom|laughter|cringe)", "rather (die|be dead) than ~2 (go|get|eat|call|wait|sit|have|do|take|see|pay|deal|miss|sing|wear|drive|work|fly|watch)",
    ]),
];

/// A word after a mention that makes it a service, a test or a prescription rather than a
/// symptom: "chest pain clinic", "seizure medication", "stroke rehab", "heart attack risk".
pub const SERVICE_NEXT: &str = "clinic*|medication*|medicine*|meds|med|refill*|prescription*|script|test*|screening*|risk*|prevention|specialist*|\
    xray*|ct|scan*|mri|rehab*|center|centre|unit|kit|program*|class*|group|groups|treatment*|results|awareness|survivor*|monitor*|insurance|\
    followup*|education|support|pamphlet*|study|research|doctor|doctors|neurologist|cardiologist|clinica|medicamento*|medicina|receta*|\
    prueba*|examen*|analisis|cita|plan|protocol|training|course|certification|workshop|ward|team|nurse|foundation|walk|\
    supplies|panel|history|precautions|questionnaire|form|forms|survey|appointment*|checkup*|check|visit|evaluation|consult*";
