//! The API server's validation rules that injecting a sidecar can break.
//!
//! The API server validates the Pod after the policy has mutated it, and refuses it whole when the
//! sidecar is invalid; with the policy failing closed, that stops every Pod creation where it
//! applies, with a message about a container the person never wrote. Checking the template against
//! the Kubernetes types ([`crate::schema`]) does not catch these: they are rules on values. The ones
//! an injection can break are checked here, so that the policy says what is wrong and where it
//! comes from instead:
//! - at load, on what the settings write literally (template strings are not known yet);
//! - for each Pod, on what only that Pod decides: the values template strings render to, and the
//!   containers a Pod customizes.
//!
//! The rules, as Kubernetes v1.36 applies them to a container: each of `resources.requests` and
//! `resources.limits` is a quantity, not negative, and a request is at most its limit; each port
//! name is an IANA service name and unique in the container; the image is given, without white
//! space around it; in a Pod whose `spec.os.name` is `windows`, no Linux security setting. And the
//! value of a label added to the Pod is a label value.

use serde_json::Value;

use crate::quantity::Quantity;
use crate::template::is_template;

/// A rule broken: where in the container (or which label), and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Below the container: `resources.requests.cpu`, `ports[1].name`, `image`.
    pub field: String,
    pub problem: String,
    /// Another field the rule involves: the limit a request exceeds.
    pub related: Option<String>,
}

/// Whether template strings are values to check (they were rendered) or not known yet (at load).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Strings {
    Rendered,
    Unrendered,
}

impl Strings {
    fn known(self, text: &str) -> bool {
        self == Self::Rendered || !is_template(text)
    }
}

/// The first rule `container` breaks, in the order of the fields above.
pub fn container(container: &Value, strings: Strings) -> Option<Violation> {
    image(container, strings)
        .or_else(|| resources(container.get("resources"), strings))
        .or_else(|| ports(container.get("ports"), strings))
}

/// The securityContext fields of a container that Kubernetes refuses in a Pod whose
/// `spec.os.name` is `windows`, even when false or empty.
const NOT_ON_WINDOWS: [&str; 10] = [
    "appArmorProfile",
    "seLinuxOptions",
    "seccompProfile",
    "capabilities",
    "readOnlyRootFilesystem",
    "privileged",
    "allowPrivilegeEscalation",
    "procMount",
    "runAsUser",
    "runAsGroup",
];

/// The first field of `container` that a Windows Pod may not have.
pub fn windows_container(container: &Value) -> Option<Violation> {
    let context = container.get("securityContext")?;
    let field = NOT_ON_WINDOWS
        .iter()
        .find(|field| context.get(**field).is_some_and(|v| !v.is_null()))?;
    Some(Violation {
        field: format!("securityContext.{field}"),
        problem: "is set, and Kubernetes refuses it in a Pod whose spec.os.name is windows".into(),
        related: None,
    })
}

/// The problem with a label value, if it is not one: at most 63 characters, alphanumeric at both
/// ends, with `-`, `_` and `.` between.
pub fn label_value(value: &str) -> Option<String> {
    if value.len() > 63 {
        return Some(format!(
            "{value:?} is not a label value: it has {} characters, and 63 is the most",
            value.len()
        ));
    }
    let alphanumeric = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    let inner = value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if value.is_empty()
        || (inner && alphanumeric(value.chars().next()) && alphanumeric(value.chars().last()))
    {
        return None;
    }
    Some(format!(
        "{value:?} is not a label value: it must begin and end with a letter or digit, with only letters, digits, '-', '_' and '.' between"
    ))
}

fn image(container: &Value, strings: Strings) -> Option<Violation> {
    let image = container.get("image")?.as_str()?;
    if !strings.known(image) {
        return None;
    }
    let problem = if image.is_empty() {
        "is empty: the API server requires an image".to_string()
    } else if image.trim() != image {
        format!("{image:?} has white space around it, which the API server refuses")
    } else {
        return None;
    };
    Some(Violation {
        field: "image".into(),
        problem,
        related: None,
    })
}

fn resources(resources: Option<&Value>, strings: Strings) -> Option<Violation> {
    let resources = resources?;
    let mut read = Vec::new();
    for list in ["requests", "limits"] {
        let Some(Value::Object(map)) = resources.get(list) else {
            continue;
        };
        for (name, value) in map {
            let text = match value {
                Value::String(text) if !strings.known(text) => continue,
                Value::String(text) => text.clone(),
                Value::Number(number) => number.to_string(),
                _ => continue,
            };
            // Named only for a violation.
            let field = || format!("resources.{list}.{name}");
            let quantity = match Quantity::parse(&text) {
                Ok(quantity) => quantity,
                Err(error) => {
                    return Some(Violation {
                        field: field(),
                        problem: format!("{text:?} is {error}"),
                        related: None,
                    });
                }
            };
            if quantity.is_negative() {
                return Some(Violation {
                    field: field(),
                    problem: format!("{text:?} is negative"),
                    related: None,
                });
            }
            read.push((list, name.as_str(), text, quantity));
        }
    }
    for (list, name, text, request) in &read {
        if *list != "requests" {
            continue;
        }
        let limit = read.iter().find(|(l, n, _, _)| *l == "limits" && n == name);
        if let Some((_, _, limit_text, limit)) = limit
            && request > limit
        {
            return Some(Violation {
                related: Some(format!("resources.limits.{name}")),
                field: format!("resources.requests.{name}"),
                problem: format!(
                    "{text:?} is more than resources.limits.{name}, {limit_text:?}: a request may not exceed its limit"
                ),
            });
        }
    }
    None
}

fn ports(ports: Option<&Value>, strings: Strings) -> Option<Violation> {
    let Some(Value::Array(ports)) = ports else {
        return None;
    };
    let mut names: Vec<&str> = Vec::new();
    for (i, port) in ports.iter().enumerate() {
        let Some(name) = port.get("name").and_then(Value::as_str) else {
            continue;
        };
        if !strings.known(name) {
            continue;
        }
        // Named only for a violation.
        let field = || format!("ports[{i}].name");
        if let Some(problem) = service_name(name) {
            return Some(Violation {
                field: field(),
                problem,
                related: None,
            });
        }
        if names.contains(&name) {
            return Some(Violation {
                field: field(),
                problem: format!("{name:?} names another port of this container too"),
                related: None,
            });
        }
        names.push(name);
    }
    None
}

/// The problem with a port name, if it is not an IANA service name: at most 15 lowercase letters,
/// digits and single hyphens, with a letter, and a letter or digit at both ends.
fn service_name(name: &str) -> Option<String> {
    let valid = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && name.chars().any(|c| c.is_ascii_lowercase())
        && !name.starts_with('-')
        && !name.ends_with('-')
        && !name.contains("--");
    (!valid).then(|| {
        format!(
            "{name:?} is not a port name: at most 15 lowercase letters, digits and single hyphens, with at least one letter, not beginning or ending with a hyphen"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rstest::rstest;
    use serde_json::json;

    fn violation(field: &str, problem: &str) -> Option<Violation> {
        let related = field
            .strip_prefix("resources.requests.")
            .filter(|_| problem.contains("may not exceed"))
            .map(|name| format!("resources.limits.{name}"));
        Some(Violation {
            field: field.into(),
            problem: problem.into(),
            related,
        })
    }

    #[rstest]
    #[case::valid(json!({"requests": {"cpu": "100m", "memory": 128}, "limits": {"cpu": "2", "memory": "1Gi"}}), None)]
    #[case::equal(json!({"requests": {"cpu": "1"}, "limits": {"cpu": "1000m"}}), None)]
    #[case::only_a_limit(json!({"limits": {"cpu": "1m"}}), None)]
    #[case::request_above_limit(json!({"requests": {"cpu": "3"}, "limits": {"cpu": "2"}}),
        violation("resources.requests.cpu", "\"3\" is more than resources.limits.cpu, \"2\": a request may not exceed its limit"))]
    #[case::binary_against_decimal(json!({"requests": {"memory": "1Gi"}, "limits": {"memory": "1G"}}),
        violation("resources.requests.memory", "\"1Gi\" is more than resources.limits.memory, \"1G\": a request may not exceed its limit"))]
    #[case::not_a_quantity(json!({"requests": {"cpu": "lots"}}),
        violation("resources.requests.cpu", "\"lots\" is not a Kubernetes quantity (a number with an optional suffix, such as 100m, 1.5, 2Gi or 1e3)"))]
    #[case::negative(json!({"limits": {"memory": "-1Mi"}}), violation("resources.limits.memory", "\"-1Mi\" is negative"))]
    fn resources_are_quantities_and_requests_fit_their_limits(
        #[case] resources: Value,
        #[case] expected: Option<Violation>,
    ) {
        let container = json!({"name": "proxy", "image": "proxy:1", "resources": resources});
        assert_eq!(super::container(&container, Strings::Rendered), expected);
    }

    #[test]
    fn template_strings_are_checked_once_rendered_only() {
        let container = json!({"name": "p", "image": "{{ x }}", "ports": [{"name": "{{ y }}"}],
            "resources": {"requests": {"cpu": "{{ pod.metadata.annotations['cpu'] }}"}, "limits": {"cpu": "1"}}});
        assert_eq!(super::container(&container, Strings::Unrendered), None);
        assert!(super::container(&container, Strings::Rendered).is_some());
    }

    #[rstest]
    #[case::valid(json!([{"name": "http-envoy-prom", "containerPort": 15090}, {"containerPort": 1}]), None)]
    #[case::duplicate(json!([{"name": "http", "containerPort": 1}, {"name": "http", "containerPort": 2}]),
        violation("ports[1].name", "\"http\" names another port of this container too"))]
    #[case::too_long(json!([{"name": "http-envoy-prometheus"}]), violation("ports[0].name",
        "\"http-envoy-prometheus\" is not a port name: at most 15 lowercase letters, digits and single hyphens, with at least one letter, not beginning or ending with a hyphen"))]
    #[case::digits_only(json!([{"name": "8080"}]), violation("ports[0].name",
        "\"8080\" is not a port name: at most 15 lowercase letters, digits and single hyphens, with at least one letter, not beginning or ending with a hyphen"))]
    #[case::double_hyphen(json!([{"name": "a--b"}]), violation("ports[0].name",
        "\"a--b\" is not a port name: at most 15 lowercase letters, digits and single hyphens, with at least one letter, not beginning or ending with a hyphen"))]
    #[case::upper_case(json!([{"name": "HTTP"}]), violation("ports[0].name",
        "\"HTTP\" is not a port name: at most 15 lowercase letters, digits and single hyphens, with at least one letter, not beginning or ending with a hyphen"))]
    fn port_names_are_service_names_and_unique(
        #[case] ports: Value,
        #[case] expected: Option<Violation>,
    ) {
        let container = json!({"name": "proxy", "image": "proxy:1", "ports": ports});
        assert_eq!(super::container(&container, Strings::Rendered), expected);
    }

    #[rstest]
    #[case::empty("", violation("image", "is empty: the API server requires an image"))]
    #[case::space(
        " proxy:1",
        violation(
            "image",
            "\" proxy:1\" has white space around it, which the API server refuses"
        )
    )]
    #[case::valid("proxy:1", None)]
    fn the_image_is_given_without_white_space(
        #[case] image: &str,
        #[case] expected: Option<Violation>,
    ) {
        let container = json!({"name": "proxy", "image": image});
        assert_eq!(super::container(&container, Strings::Rendered), expected);
    }

    #[test]
    fn a_windows_pod_takes_no_linux_security_context() {
        let linux = json!({"name": "init", "image": "i", "securityContext": {"privileged": false, "windowsOptions": {}}});
        assert_eq!(
            windows_container(&linux),
            violation(
                "securityContext.privileged",
                "is set, and Kubernetes refuses it in a Pod whose spec.os.name is windows"
            )
        );
        let neutral = json!({"name": "p", "image": "i", "securityContext": {"runAsNonRoot": true, "capabilities": null}});
        assert_eq!(windows_container(&neutral), None);
        assert_eq!(windows_container(&json!({"name": "p", "image": "i"})), None);
    }

    #[rstest]
    #[case::empty("", true)]
    #[case::name("shop-web", true)]
    #[case::dotted("v1.2_3", true)]
    #[case::trailing_hyphen("shop-web-", false)]
    #[case::slash("a/b", false)]
    #[case::space("a b", false)]
    #[case::sixty_three(&"a".repeat(63), true)]
    #[case::sixty_four(&"a".repeat(64), false)]
    fn label_values(#[case] value: &str, #[case] valid: bool) {
        assert_eq!(label_value(value).is_none(), valid, "{value:?}");
    }
}
