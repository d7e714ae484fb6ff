"""Where :class:`memhub.service.MemoryService` sends the requests of 12.4's extra tools."""

from __future__ import annotations

from typing import TYPE_CHECKING

from memhub.extras import (
    consolidation,
    consolidation_run,
    entities,
    evolution,
    graph,
    mistakes,
    quality,
)
from memhub.protocol import extras
from memhub.protocol import messages as m

if TYPE_CHECKING:
    from memhub.service import MemoryService


def handles(request: m.Request) -> bool:
    return isinstance(request, extras.REQUESTS)


async def handle(svc: MemoryService, request: m.Request, client: str) -> m.Reply:
    match request:
        case m.MistakeNoteAdd():
            return await mistakes.add(svc, request, client)
        case m.BumpSessionCounter():
            return await mistakes.bump_session_counter(svc, request, client)
        case m.ListConflicts():
            return await evolution.conflicts(svc, request)
        case m.ResolveConflict():
            return await evolution.resolve(svc, request, client)
        case m.VersionedUpdate():
            return await evolution.versioned_update(svc, request, client)
        case m.GraphQuery():
            return await graph.query(svc, request)
        case m.ExploreEntities():
            return await entities.explore_entities(svc, request)
        case m.EntityDetail():
            return await entities.entity_detail(svc, request)
        case m.QualityRate():
            return await quality.rate(svc, request, client)
        case m.QualityAnalyze():
            return await quality.analyze(svc, request)
        case m.QualityMaintain():
            return await quality.maintain(svc, request, client)
        case m.ConsolidateRecommend():
            return await consolidation.recommend(svc, request)
        case m.ConsolidateMerge():
            return await consolidation.merge(svc, request, client)
        case m.ConsolidateRun():
            return await consolidation_run.run(svc, request, client)
    raise TypeError(f"not an extra tool's request: {type(request).__name__}")
