//! The short table of given names and their common short forms that a watch may ask to match
//! (`"nicknames": true`): William and Bill are one person's name on two filings. Names in one
//! group are equivalent; a name may sit in two groups (Pat: Patricia and Patrick).

/// Each group: a given name and its usual short forms, lower case, without accents.
const GROUPS: &[&[&str]] = &[
    &["william", "bill", "billy", "will", "willie", "liam"],
    &["robert", "bob", "bobby", "rob", "robbie", "bert"],
    &[
        "elizabeth",
        "liz",
        "lizzie",
        "beth",
        "betty",
        "eliza",
        "libby",
    ],
    &["james", "jim", "jimmy", "jamie"],
    &["john", "jack", "johnny", "jon"],
    &["jonathan", "jon", "jonny"],
    &["richard", "rick", "ricky", "dick", "rich"],
    &["michael", "mike", "mikey", "mick"],
    &["thomas", "tom", "tommy"],
    &["joseph", "joe", "joey"],
    &["charles", "charlie", "chuck", "chas"],
    &["margaret", "maggie", "meg", "peggy", "marge"],
    &["katherine", "kathy", "kate", "katie", "kathryn", "kat"],
    &["catherine", "cathy", "cate", "cat"],
    &["christopher", "chris", "topher"],
    &["christine", "chris", "chrissy", "tina"],
    &["daniel", "dan", "danny"],
    &["anthony", "tony"],
    &["edward", "ed", "eddie", "ted", "ned"],
    &["jennifer", "jen", "jenny"],
    &["patricia", "pat", "patty", "trish", "tricia"],
    &["patrick", "pat", "paddy"],
    &["susan", "sue", "susie", "suzy"],
    &["deborah", "debra", "deb", "debbie"],
    &["rebecca", "becky", "becca"],
    &["samuel", "sam", "sammy"],
    &["samantha", "sam", "sammie"],
    &["benjamin", "ben", "benny"],
    &["alexander", "alex", "al", "xander"],
    &["alexandra", "alex", "lexi", "sandra"],
    &["andrew", "andy", "drew"],
    &["matthew", "matt", "matty"],
    &["nicholas", "nick", "nicky"],
    &["steven", "steve", "stevie"],
    &["stephen", "steve", "stevie"],
    &["timothy", "tim", "timmy"],
    &["gregory", "greg"],
    &["kenneth", "ken", "kenny"],
    &["ronald", "ron", "ronnie"],
    &["donald", "don", "donnie"],
    &["douglas", "doug"],
    &["lawrence", "larry"],
    &["gerald", "jerry"],
    &["raymond", "ray"],
    &["frederick", "fred", "freddie"],
    &["albert", "al", "bert"],
    &["jacqueline", "jackie"],
    &["victoria", "vicky", "tori"],
    &["abigail", "abby"],
    &["barbara", "barb", "barbie"],
    &["dorothy", "dot", "dottie"],
    &["theodore", "ted", "teddy", "theo"],
    &["zachary", "zach", "zack"],
    &["joshua", "josh"],
    &["jeffrey", "jeff"],
    &["gabriel", "gabe"],
    &["vincent", "vince", "vinny"],
    &["harold", "harry", "hal"],
    &["henry", "hank", "harry"],
];

/// Whether two given names (normalised: lower case, no accents) are the same name or short
/// forms of one name in the table.
pub fn are_equivalent(a: &str, b: &str) -> bool {
    a == b
        || GROUPS
            .iter()
            .any(|group| group.contains(&a) && group.contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_meet_their_full_name_and_each_other() {
        assert!(are_equivalent("william", "bill"));
        assert!(are_equivalent("bill", "will"));
        assert!(are_equivalent("pat", "patrick"));
        assert!(are_equivalent("pat", "patricia"));
        assert!(!are_equivalent("patricia", "patrick"));
        assert!(!are_equivalent("william", "robert"));
    }

    #[test]
    fn the_table_is_normalised() {
        for name in GROUPS.iter().flat_map(|g| g.iter()) {
            assert!(
                name.chars().all(|c| c.is_ascii_lowercase()),
                "`{name}` must be lower-case ASCII"
            );
        }
    }
}
