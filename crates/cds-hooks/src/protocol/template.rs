//! The check of a prefetch template against what CDS Hooks 2.0.1 allows (see
//! [`crate::prefetch`] for how livelab's own templates keep to it). Used by discovery to
//! refuse a service description with a template a 2.0 client could not fill.

use super::hook::Hook;
use crate::text::quote;

/// Why a prefetch template is not valid CDS Hooks 2.0.1.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("the template is empty")]
    Empty,
    #[error("the template must be a relative FHIR URL (no scheme, no leading `/`)")]
    NotRelative,
    #[error("unbalanced `{{{{` / `}}}}`")]
    UnbalancedBraces,
    #[error(
        "`{{{{{token}}}}}` is not a prefetch token of this hook (2.0.1 allows `context.<field>` \
         for the hook's token fields and the user ids, no FHIRPath or dates)"
    )]
    UnsupportedToken { token: String },
    #[error("the template is neither a read (`Type/id`) nor a search (`Type?…`)")]
    NotReadOrSearch,
}

/// The user-identifier tokens every hook offers.
const USER_TOKENS: [&str; 4] = [
    "userPractitionerId",
    "userPractitionerRoleId",
    "userPatientId",
    "userRelatedPersonId",
];

/// Checks that a template uses only the tokens CDS Hooks 2.0.1 allows for `hook`, and is a
/// relative read or search (or, as in the spec's own example, a lone `{{context.userId}}`,
/// whose value is already `Type/id`).
///
/// The recommended query subset (token equality, date prefixes, `_count`, `_sort`) is a
/// recommendation, so parameters are not policed; [`crate::prefetch::derive_prefetch`] keeps to
/// it.
pub fn validate_template(template: &str, hook: Hook) -> Result<(), TemplateError> {
    if template.is_empty() {
        return Err(TemplateError::Empty);
    }
    let path = template.split('?').next().unwrap_or_default();
    if path.starts_with('/') || path.contains("://") {
        return Err(TemplateError::NotRelative);
    }
    // Replace every token by a neutral id, checking each.
    let mut rest = template;
    let mut resolved = String::with_capacity(template.len());
    let mut tokens = 0;
    while let Some(start) = rest.find("{{") {
        resolved.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after.find("}}").ok_or(TemplateError::UnbalancedBraces)?;
        let token = &after[..end];
        let allowed = match token.strip_prefix("context.") {
            Some(field) => hook.prefetch_tokens().contains(&field),
            None => USER_TOKENS.contains(&token),
        };
        if !allowed {
            return Err(TemplateError::UnsupportedToken {
                token: quote(token),
            });
        }
        resolved.push_str(if token == "context.userId" {
            "Practitioner/x"
        } else {
            "x"
        });
        tokens += 1;
        rest = &after[end + 2..];
    }
    resolved.push_str(rest);
    if resolved.contains('{') || resolved.contains('}') {
        return Err(TemplateError::UnbalancedBraces);
    }
    if tokens == 1 && template == "{{context.userId}}" {
        return Ok(());
    }
    let type_end = resolved
        .find(['/', '?'])
        .ok_or(TemplateError::NotReadOrSearch)?;
    let resource_type = &resolved[..type_end];
    let is_type = resource_type
        .bytes()
        .next()
        .is_some_and(|b| b.is_ascii_uppercase())
        && resource_type.bytes().all(|b| b.is_ascii_alphabetic());
    if !is_type || resolved.len() == type_end + 1 {
        return Err(TemplateError::NotReadOrSearch);
    }
    Ok(())
}
