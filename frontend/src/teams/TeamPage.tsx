// /teams/:id: the team's queue in admission order with why each step waits, what runs, usage
// against quota, live; the quota settings for those who may see them.
import { Link, useParams } from "react-router-dom";
import { api } from "../api/client";
import { useApi } from "../api/useApi";
import { ErrorMessage } from "../ui";
import { QuotaPanel } from "./QuotaPanel";
import { ActiveTable, WaitingTable } from "./QueueTables";
import { UsageBars } from "./UsageBars";
import { useTeamQueue, type TeamConnection } from "./useTeamQueue";
import "./teams.css";

const CONNECTION_LABEL: Record<TeamConnection, string> = {
  connecting: "Connecting…",
  open: "Live",
  reconnecting: "Reconnecting…",
};

export function TeamPage() {
  const { id } = useParams();
  const team = useApi((signal) => api.team(id ?? "", signal), [id]);
  const live = useTeamQueue(team.data ? team.data.id : undefined);

  if (team.error) return <div className="page"><ErrorMessage error={team.error} onRetry={team.reload} /></div>;
  if (!team.data) return <p className="muted page-pad">Loading…</p>;
  const t = team.data;
  const q = live.queue;
  return (
    <div className="page team-page">
      <div className="section-head">
        <h1 data-testid="team-name">{t.display_name || t.name}</h1>
        <span className={`connection connection-${live.connection}`} data-testid="connection-state"
              data-state={live.connection} role="status">
          {CONNECTION_LABEL[live.connection]}
        </span>
      </div>
      <p className="muted">
        {t.role ? <>Your role: {t.role}</> : "You are a platform admin, not a member"}
        {q && (
          <>
            {" "}· policy <span className="mono">{q.policy}</span>
            {q.cohort ? <> · cohort <span className="mono">{q.cohort}</span></> : " · no cohort"}
          </>
        )}
      </p>
      {!q ? (
        <p className="muted">Loading the queue…</p>
      ) : (
        <>
          <section aria-labelledby="usage-head">
            <h2 id="usage-head">Usage against quota</h2>
            {!q.has_quota && <p className="field-error">This team has no quota yet: nothing of it is admitted.</p>}
            <UsageBars usage={q.usage} />
            <p className="muted small usage-legend">
              <span className="legend-within" aria-hidden="true" /> within the nominal quota{" "}
              <span className="legend-borrowed" aria-hidden="true" /> borrowed from the cohort{" "}
              <span className="legend-nominal" aria-hidden="true" /> nominal quota{" "}
              <span className="legend-limit" aria-hidden="true" /> borrowing limit
            </p>
          </section>
          <section aria-labelledby="queue-head">
            <h2 id="queue-head">
              Waiting <span className="muted small">({q.waiting.length} of {q.waiting_in_cluster} in the cluster)</span>
            </h2>
            <WaitingTable waiting={q.waiting} total={q.waiting_in_cluster} />
          </section>
          <section aria-labelledby="active-head">
            <h2 id="active-head">Running</h2>
            <ActiveTable active={q.active} />
          </section>
        </>
      )}
      {t.can_read_quota && (
        <section aria-labelledby="quota-head" data-testid="quota-section">
          <h2 id="quota-head">Quota settings</h2>
          {!t.can_edit_quota && <p className="muted small">Only platform admins change quotas.</p>}
          <QuotaPanel teamId={t.id} canEdit={t.can_edit_quota} />
        </section>
      )}
    </div>
  );
}

export function TeamList() {
  const teams = useApi((signal) => api.teams({}, signal), []);
  return (
    <div className="page">
      <h1>Teams</h1>
      {teams.error ? (
        <ErrorMessage error={teams.error} onRetry={teams.reload} />
      ) : !teams.data ? (
        <p className="muted">Loading…</p>
      ) : !teams.data.results.length ? (
        <p className="empty">You are in no team yet.</p>
      ) : (
        <ul className="team-list" data-testid="team-list">
          {teams.data.results.map((t) => (
            <li key={t.id}>
              <Link to={`/teams/${t.id}`}>{t.display_name || t.name}</Link> <span className="muted small">{t.role ?? "not a member"}</span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
