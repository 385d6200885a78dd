//! A placement's lists as the service answers them: the placement's request made for a page
//! (its rules as a candidate filter and a stage, the shopper's recent lists read when a
//! rotation rule needs them), served as a shopper sees it — experiment, log, attribution —
//! or explained and previewed.

use std::collections::HashMap;
use std::sync::Arc;

use crate::list::pipeline;
use crate::list::{ListContext, ListRequest, RecommendationList};
use crate::placements::apply::{RuleEffect, RuleFilter, RuleStage, Trace};
use crate::placements::explain::{self, Explanation, Findings, Preview, PreviewItem};
use crate::placements::{MAX_N, PageContext, Placement, PlacementError};
use crate::service::Service;
use crate::unix_now;

/// A placement's request for one page, and the rule objects in it.
struct Prepared {
    request: ListRequest,
    filter: Option<Arc<RuleFilter>>,
    stage: Option<Arc<RuleStage>>,
}

impl Service {
    /// The list of placement `name` for a page, served as any list is (the running
    /// experiment picks the model unless the placement names one; the list is logged).
    pub fn serve_placement(
        &self,
        name: &str,
        page: &PageContext,
    ) -> Result<RecommendationList, PlacementError> {
        let placement = self.placement(name)?;
        let prepared = self.prepare(&placement, page, None)?;
        Ok(self.serve_list(prepared.request)?)
    }

    /// Why `candidate` is, or is not, in placement `name`'s list for a page. Nothing is
    /// logged: the explainer is for merchandisers, not shoppers.
    pub fn explain_placement(
        &self,
        name: &str,
        page: &PageContext,
        candidate: &str,
    ) -> Result<Explanation, PlacementError> {
        let placement = self.placement(name)?;
        let Prepared {
            mut request,
            filter,
            stage,
        } = self.prepare(&placement, page, Some(Trace::new(candidate)))?;
        self.assign_experiment(&mut request);
        let explanation = self.engine().with_context(&request, |context| {
            let made = pipeline::run(context)?;
            let listed = made
                .items
                .iter()
                .position(|i| i.item_id == candidate)
                .map(|p| (p, made.items[p].score));
            // The source's own order: the same request without rules, as long as allowed.
            let mut bare = request.clone();
            bare.stages.clear();
            bare.filters.extra.clear();
            bare.n = MAX_N;
            bare.offset = 0;
            bare.fallback = Some(Vec::new());
            let bare_context = ListContext::new(
                &bare,
                context.serving,
                context.catalogue,
                context.config,
                context.events.clone(),
            )?;
            let rank_before_rules = pipeline::run(&bare_context)?
                .items
                .iter()
                .position(|i| i.item_id == candidate);
            let model_item = context.trained.items.get(candidate);
            let facts = context.catalogue.get(candidate);
            Ok(explain::explain(
                Findings {
                    candidate,
                    request: &request,
                    listed,
                    rank_before_rules,
                    effects: stage
                        .as_ref()
                        .and_then(|s| s.trace.as_ref())
                        .map(Trace::take)
                        .unwrap_or_default()
                        .into_iter()
                        .map(|(_, effect)| effect)
                        .collect(),
                    refused: filter.as_ref().and_then(|f| f.refusal(context, candidate)),
                    in_catalogue: facts.is_some(),
                    catalogue_empty: context.catalogue.is_empty(),
                    available: facts.map(|f| f.available),
                    known_to_model: model_item.is_some(),
                    seen_by_user: model_item.is_some_and(|i| context.has_seen(i)),
                },
                &placement.rules,
            ))
        })?;
        Ok(explanation)
    }

    /// Placement `name`'s list for a page as it would be served (the experiment's variant
    /// included), with what the rules did to each item; nothing is logged.
    pub fn preview_placement(
        &self,
        name: &str,
        page: &PageContext,
    ) -> Result<Preview, PlacementError> {
        let placement = self.placement(name)?;
        let Prepared {
            mut request, stage, ..
        } = self.prepare(&placement, page, Some(Trace::every_item()))?;
        let experiment = self.assign_experiment(&mut request);
        let preview = self.engine().with_context(&request, |context| {
            let made = pipeline::run(context)?;
            let mut effects: HashMap<&str, Vec<RuleEffect>> = HashMap::new();
            let noted = stage
                .as_ref()
                .and_then(|s| s.trace.as_ref())
                .map(Trace::take)
                .unwrap_or_default();
            for (item, effect) in noted {
                effects
                    .entry(context.trained.items.id(item))
                    .or_default()
                    .push(effect);
            }
            let items = made
                .items
                .into_iter()
                .map(|r| PreviewItem {
                    rules: effects.remove(r.item_id.as_str()).unwrap_or_default(),
                    item_id: r.item_id,
                    score: r.score,
                    reason: r.reason,
                })
                .collect();
            Ok(Preview {
                model: made.model,
                model_version: context.serving.info.version.0,
                fallback: made.fallback,
                experiment: experiment.clone(),
                items,
            })
        })?;
        Ok(preview)
    }

    fn placement(&self, name: &str) -> Result<Arc<Placement>, PlacementError> {
        self.placements()
            .get(name)
            .ok_or_else(|| PlacementError::Unknown(name.to_string()))
    }

    fn prepare(
        &self,
        placement: &Placement,
        page: &PageContext,
        trace: Option<Trace>,
    ) -> Result<Prepared, PlacementError> {
        let mut request = placement.request(page);
        let now = unix_now();
        let filter = RuleFilter::new(Arc::clone(&placement.rules), now).map(Arc::new);
        if let Some(filter) = &filter {
            request.filters.extra.push(Arc::clone(filter) as _);
        }
        let acts_on_pool = placement.rules.iter().any(|r| !r.is_filter());
        let user = request.user_id.as_deref();
        let stage = (acts_on_pool || trace.is_some()).then(|| {
            let shown = match (placement.rotation_secs(), user) {
                (Some(window), Some(user)) => {
                    let since = now - window;
                    let recent = self.placements().recent();
                    recent
                        .shown_since(self.store().as_ref(), user, since)
                        .unwrap_or_else(|e| {
                            // The database is away: the list is served without rotation.
                            tracing::debug!("recent lists unavailable, no rotation: {e}");
                            HashMap::new()
                        })
                }
                _ => HashMap::new(),
            };
            let mut stage = RuleStage::new(Arc::clone(&placement.rules), now, shown);
            stage.trace = trace;
            Arc::new(stage)
        });
        if let Some(stage) = &stage {
            request.stages.push(Arc::clone(stage) as _);
        }
        Ok(Prepared {
            request,
            filter,
            stage,
        })
    }
}
