//! 一連検査グループ (series groups): items reported together under one observation, each
//! linked to it as a component (`COMP`) or as the reason for the test (`RSON`).

use kenshin_profile::Item;

/// How a member is linked to its group (`entryRelationship/@typeCode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Relation {
    Comp,
    Rson,
}

impl Relation {
    pub(crate) fn type_code(self) -> &'static str {
        match self {
            Relation::Comp => "COMP",
            Relation::Rson => "RSON",
        }
    }

    /// `COMP`, `RSON`, and the MHLW table's numbered reasons (`RSON1`: the coded 対象者 reason
    /// beside the free-text 実施理由), which HL7 knows only as `RSON`.
    fn parse(text: &str) -> Option<Relation> {
        let upper = text.to_ascii_uppercase();
        if upper == "COMP" {
            Some(Relation::Comp)
        } else if upper
            .strip_prefix("RSON")
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_digit()))
        {
            Some(Relation::Rson)
        } else {
            None
        }
    }
}

/// An item's place in a series group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Membership {
    /// Items with equal keys form one group.
    pub(crate) key: String,
    pub(crate) relation: Relation,
}

/// Reads `XmlInfo::series_group`. The MHLW table has two columns, the group identifier
/// (一連検査グループ識別, the code of one of its items) and the relation (一連検査グループ
/// 関係コード); a profile may hold both, separated by `:`, `/`, `,`, `|`, `;` or spaces
/// (`2A020161001930149:COMP`), or the relation alone (`COMP`). With the relation alone the
/// group is taken to be the item's category (区分), which is right for the 第4期 table's
/// 貧血検査 and 血清クレアチニン groups but merges groups that share a category (e.g. the
/// X-ray groups of がん検診・生体検査等) — profiles should carry the identifier.
pub(crate) fn membership(item: &Item) -> Result<Option<Membership>, String> {
    let Some(text) = item.xml.as_ref().and_then(|x| x.series_group.as_deref()) else {
        return Ok(None);
    };
    let parts: Vec<&str> = text
        .split(|c: char| matches!(c, ':' | '/' | ',' | '|' | ';') || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .collect();
    let not_understood = || {
        format!(
            "series group {text:?} of item {} is not understood (expected COMP/RSON, optionally \
             with the group identifier, e.g. \"2A020161001930149:COMP\")",
            item.code
        )
    };
    match parts.as_slice() {
        [] => Ok(None),
        [relation] => {
            let relation = Relation::parse(relation).ok_or_else(not_understood)?;
            Ok(Some(Membership {
                key: format!("category:{}", item.category),
                relation,
            }))
        }
        [a, b] => {
            let (group, relation) = match (Relation::parse(a), Relation::parse(b)) {
                (None, Some(relation)) => (*a, relation),
                (Some(relation), None) => (*b, relation),
                _ => return Err(not_understood()),
            };
            Ok(Some(Membership {
                key: format!("group:{group}"),
                relation,
            }))
        }
        _ => Err(not_understood()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kenshin_profile::{ItemKind, XmlDataType, XmlInfo};

    fn item(series: Option<&str>) -> Item {
        Item {
            code: "2A040000001930102".into(),
            name: "ヘマトクリット値".into(),
            category: "血液像検査".into(),
            kind: ItemKind::Text,
            unit: None,
            ucum: None,
            max_bytes: 512,
            input_range: None,
            reference: None,
            programs: vec![],
            xml: Some(XmlInfo {
                data_type: XmlDataType::PQ,
                code_system: None,
                method_code: None,
                series_group: series.map(str::to_string),
            }),
        }
    }

    #[test]
    fn group_identifier_and_relation_in_either_order() {
        for text in [
            "2A020161001930149:COMP",
            "COMP 2A020161001930149",
            "2A020161001930149/comp",
        ] {
            let m = membership(&item(Some(text))).unwrap().unwrap();
            assert_eq!(m.key, "group:2A020161001930149");
            assert_eq!(m.relation, Relation::Comp);
        }
        let m = membership(&item(Some("3C015161002399949,RSON1")))
            .unwrap()
            .unwrap();
        assert_eq!(m.relation, Relation::Rson);
    }

    #[test]
    fn relation_alone_groups_by_category() {
        let m = membership(&item(Some("RSON"))).unwrap().unwrap();
        assert_eq!(m.key, "category:血液像検査");
        assert_eq!(membership(&item(None)).unwrap(), None);
        assert!(membership(&item(Some("SPRT"))).is_err());
        assert!(membership(&item(Some("a b c"))).is_err());
    }
}
