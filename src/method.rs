//! The estimators, named once for every layer, and the method sets a command asks for.
//!
//! [`Method`] is the one enum of estimators. Each layer solves a subset and says which, in its
//! table order: [`crate::bandit::METHODS`] (SPEC §1) and [`crate::truth::estimate::METHODS`]
//! (SPEC §3.2). A command takes a [`MethodSet`] — `all` or a comma-separated list — and
//! [`MethodSet::resolve`]s it against its layer's methods: `all` is exactly that layer's list,
//! and a method the layer does not solve is a typed error naming it and the supported ones.
//!
//! ```
//! use aihf::method::{Method, MethodSet};
//! let supported = [Method::Sft, Method::Btl, Method::Aihf];
//! let all: MethodSet = "all".parse()?;
//! assert_eq!(all.resolve(&supported)?, supported.to_vec());
//! let two: MethodSet = "aihf,sft".parse()?;
//! assert_eq!(two.resolve(&supported)?, vec![Method::Aihf, Method::Sft]);
//! let ipo: MethodSet = "ipo".parse()?;
//! assert!(ipo.resolve(&supported).is_err());
//! # Ok::<(), aihf::AihfError>(())
//! ```

use crate::error::{AihfError, Result};
use clap::builder::{PossibleValue, TypedValueParser};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An estimator (SPEC §1.1–§1.5 for the one-step layer, §3.2 for the sequence level). Its
/// kebab-case name ([`Method::name`]) is the command-line, JSON and CSV name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// Supervised fine-tuning: the likelihood of the demonstrations over the policy class,
    /// (22)–(27).
    Sft,
    /// Maximum-likelihood IRL from the demonstrations: AIHF with `λ = 0`.
    Irl,
    /// Bradley–Terry–Luce reward model from the preferences, (28)–(32); its policy is `π_{r^P}`.
    Btl,
    /// Two-stage RLHF: BTL, then the KL-regularised policy `π_ref · exp(r^P/β)`, (33).
    Rlhf,
    /// AIHF: the joint likelihood of demonstrations and preferences, (35)–(36).
    Aihf,
    /// Direct preference optimisation, (10).
    Dpo,
    /// Identity preference optimisation (Azar et al. 2023).
    Ipo,
    /// DPO + demonstration likelihood (RPO).
    DirectAihf,
    /// Self-play fine-tuning iteration (Chen et al. 2024).
    Spin,
    /// SPIN + λ · DPO on the preference data, (11).
    SelfPlayAihf,
}

impl Method {
    /// Every method of every layer.
    pub const ALL: [Method; 10] = [
        Method::Sft,
        Method::Irl,
        Method::Btl,
        Method::Rlhf,
        Method::Aihf,
        Method::Dpo,
        Method::Ipo,
        Method::DirectAihf,
        Method::Spin,
        Method::SelfPlayAihf,
    ];

    /// The kebab-case name used on the command line, in JSON and in CSV.
    pub fn name(self) -> &'static str {
        match self {
            Method::Sft => "sft",
            Method::Irl => "irl",
            Method::Btl => "btl",
            Method::Rlhf => "rlhf",
            Method::Aihf => "aihf",
            Method::Dpo => "dpo",
            Method::Ipo => "ipo",
            Method::DirectAihf => "direct-aihf",
            Method::Spin => "spin",
            Method::SelfPlayAihf => "self-play-aihf",
        }
    }

    /// One line for a command's help.
    pub fn description(self) -> &'static str {
        match self {
            Method::Sft => "Supervised fine-tuning on the demonstrations",
            Method::Irl => "Inverse RL (maximum likelihood of the demonstrations; AIHF with λ = 0)",
            Method::Btl => "The BTL reward fit on the preferences",
            Method::Rlhf => "Two-stage RLHF (BTL, then KL-regularised policy)",
            Method::Aihf => "AIHF (demonstrations and preferences together)",
            Method::Dpo => "Direct preference optimisation",
            Method::Ipo => "Identity preference optimisation",
            Method::DirectAihf => "DPO + demonstration likelihood (RPO)",
            Method::Spin => "Self-play fine-tuning",
            Method::SelfPlayAihf => "SPIN + λ · DPO on the preferences",
        }
    }

    /// The error for asking a layer that solves only `supported` for this method: an
    /// [`AihfError::Param`] naming it and the supported ones.
    pub fn unsupported(self, supported: &[Method]) -> AihfError {
        AihfError::param(
            "method",
            format!(
                "`{self}` is not supported here; the supported methods are {}, or all",
                names(supported)
            ),
        )
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// `a, b, c`.
fn names(methods: &[Method]) -> String {
    methods
        .iter()
        .map(|m| m.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl FromStr for Method {
    type Err = AihfError;
    /// A method's kebab-case name; anything else is a [`AihfError::Param`] listing the names.
    fn from_str(s: &str) -> Result<Self> {
        Method::ALL
            .into_iter()
            .find(|m| m.name() == s)
            .ok_or_else(|| {
                AihfError::param(
                    "method",
                    format!("unknown method `{s}` (methods: {})", names(&Method::ALL)),
                )
            })
    }
}

/// The methods a command asks for: `all` (every method its layer solves) or a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MethodSet {
    /// Every method of the layer, in its table order.
    All,
    /// These methods, in this order (non-empty, each once).
    Only(Vec<Method>),
}

impl MethodSet {
    /// The set of one method.
    pub fn one(m: Method) -> Self {
        MethodSet::Only(vec![m])
    }

    /// The methods of this set among `supported` (a layer's list, in table order): `all` is
    /// `supported` itself; a listed method `supported` lacks is an [`AihfError::Param`] naming
    /// it and the supported ones.
    pub fn resolve(&self, supported: &[Method]) -> Result<Vec<Method>> {
        let MethodSet::Only(list) = self else {
            return Ok(supported.to_vec());
        };
        match list.iter().find(|m| !supported.contains(m)) {
            Some(m) => Err(m.unsupported(supported)),
            None => Ok(list.clone()),
        }
    }

    /// Whether the set names `m` explicitly (`all` names none).
    pub fn lists(&self, m: Method) -> bool {
        matches!(self, MethodSet::Only(list) if list.contains(&m))
    }

    /// Parses `s` and checks it against `supported` ([`MethodSet::resolve`]).
    pub fn parse_for(s: &str, supported: &[Method]) -> Result<Self> {
        let set: MethodSet = s.parse()?;
        set.resolve(supported)?;
        Ok(set)
    }

    /// A clap value parser of the sets over `supported`: its help lists only those methods
    /// (and `all`), and any other method is a usage error naming the supported ones.
    pub fn parser(supported: &'static [Method]) -> MethodSetParser {
        MethodSetParser { supported }
    }
}

impl FromStr for MethodSet {
    type Err = AihfError;
    /// `all`, or method names separated by commas (each at most once).
    fn from_str(s: &str) -> Result<Self> {
        if s == "all" {
            return Ok(MethodSet::All);
        }
        let mut list: Vec<Method> = vec![];
        for name in s.split(',').map(str::trim) {
            let m: Method = name.parse()?;
            if list.contains(&m) {
                return Err(AihfError::param("method", format!("`{m}` is listed twice")));
            }
            list.push(m);
        }
        Ok(MethodSet::Only(list))
    }
}

impl fmt::Display for MethodSet {
    /// `all`, or the names joined by commas (what [`MethodSet::from_str`] reads back).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MethodSet::All => f.write_str("all"),
            MethodSet::Only(list) => {
                let v: Vec<&str> = list.iter().map(|m| m.name()).collect();
                f.write_str(&v.join(","))
            }
        }
    }
}

/// The clap value parser of [`MethodSet::parser`].
#[derive(Clone, Copy, Debug)]
pub struct MethodSetParser {
    supported: &'static [Method],
}

impl TypedValueParser for MethodSetParser {
    type Value = MethodSet;

    fn parse_ref(
        &self,
        cmd: &clap::Command,
        arg: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> std::result::Result<MethodSet, clap::Error> {
        let supported = self.supported;
        // clap's own parser of a fallible function: its usage error names the option and value.
        let parse = move |s: &str| MethodSet::parse_for(s, supported);
        parse.parse_ref(cmd, arg, value)
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let each = self
            .supported
            .iter()
            .map(|m| PossibleValue::new(m.name()).help(m.description()));
        let all = PossibleValue::new("all").help("Every method of this command");
        Some(Box::new(each.chain(std::iter::once(all))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SOME: [Method; 3] = [Method::Sft, Method::Btl, Method::Aihf];

    #[test]
    fn names_round_trip_and_match_serde() {
        for m in Method::ALL {
            assert_eq!(m.name().parse::<Method>().unwrap(), m);
            let json = serde_json::to_string(&m).unwrap();
            assert_eq!(json, format!("\"{}\"", m.name()));
        }
    }

    #[test]
    fn all_resolves_to_the_layer_list_in_its_order() {
        let set: MethodSet = "all".parse().unwrap();
        assert_eq!(set, MethodSet::All);
        assert_eq!(set.resolve(&SOME).unwrap(), SOME.to_vec());
        assert_eq!(set.to_string(), "all");
    }

    #[test]
    fn lists_keep_their_order_and_print_back() {
        let set: MethodSet = "aihf, sft".parse().unwrap();
        assert_eq!(set.resolve(&SOME).unwrap(), vec![Method::Aihf, Method::Sft]);
        assert_eq!(set.to_string(), "aihf,sft");
        assert_eq!(set.to_string().parse::<MethodSet>().unwrap(), set);
        assert!(set.lists(Method::Sft) && !set.lists(Method::Btl));
        assert!(!MethodSet::All.lists(Method::Sft));
    }

    #[test]
    fn bad_sets_are_param_errors_naming_the_method() {
        for (input, says) in [
            (
                "ipo",
                "`ipo` is not supported here; the supported methods are sft, btl, aihf",
            ),
            ("sft,direct-aihf", "`direct-aihf` is not supported"),
            ("nope", "unknown method `nope`"),
            ("", "unknown method ``"),
            ("sft,", "unknown method ``"),
            ("sft,sft", "`sft` is listed twice"),
            ("ALL", "unknown method `ALL`"),
        ] {
            let e = MethodSet::parse_for(input, &SOME).unwrap_err();
            assert!(
                matches!(&e, AihfError::Param { name, .. } if name == "method"),
                "{e}"
            );
            assert!(e.to_string().contains(says), "{input:?}: {e}");
        }
    }

    #[test]
    fn the_clap_parser_lists_only_the_supported_methods() {
        let p = MethodSet::parser(&SOME);
        let shown: Vec<String> = p
            .possible_values()
            .unwrap()
            .map(|v| v.get_name().to_string())
            .collect();
        assert_eq!(shown, ["sft", "btl", "aihf", "all"]);
        let cmd = clap::Command::new("t");
        let ok = p.parse_ref(&cmd, None, "btl".as_ref()).unwrap();
        assert_eq!(ok, MethodSet::one(Method::Btl));
        let e = p.parse_ref(&cmd, None, "ipo".as_ref()).unwrap_err();
        assert!(e.to_string().contains("`ipo` is not supported here"), "{e}");
    }
}
