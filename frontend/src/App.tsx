import { lazy, Suspense, type ReactNode } from "react";
import {
  createBrowserRouter,
  createRoutesFromElements,
  Link,
  Navigate,
  NavLink,
  Outlet,
  Route,
  RouterProvider,
  useLocation,
  useNavigate,
} from "react-router-dom";
import { LoginPage } from "./auth/LoginPage";
import { lazyPage } from "./lazyPage";
import { useSession } from "./auth/useSession";
import { PipelineList } from "./pipelines/PipelineList";
import { RunList } from "./runs/RunList";
import { ErrorMessage } from "./ui";

// The DAG pages carry React Flow; load them when first visited.
const pipelinePage = lazyPage(() => import("./pipelines/PipelinePage").then((m) => m.PipelinePage));
const runPage = lazyPage(() => import("./runs/RunPage").then((m) => m.RunPage));
const editorPage = lazyPage(() => import("./editor/Editor").then((m) => m.EditorPage));
const { Page: PipelinePage } = pipelinePage;
const { Page: RunPage } = runPage;
const { Page: EditorPage } = editorPage;
// Opened at one of their addresses: load the page while the session is being checked.
const OPENED_AT = window.location.pathname;
if (/^\/pipelines\/(new|[^/]+\/(edit|versions\/[^/]+))\/?$/.test(OPENED_AT)) void editorPage.preload();
else if (/^\/pipelines\/[^/]+\/?$/.test(OPENED_AT)) void pipelinePage.preload();
else if (/^\/runs\/[^/]+\/?$/.test(OPENED_AT)) void runPage.preload();
const TeamPage = lazy(() => import("./teams/TeamPage").then((m) => ({ default: m.TeamPage })));
const TeamList = lazy(() => import("./teams/TeamPage").then((m) => ({ default: m.TeamList })));

// A data router: the editor's unsaved-changes guard needs useBlocker, which only it offers.
const router = createBrowserRouter(
  createRoutesFromElements(
    <>
      <Route path="/login" element={<LoginPage />} />
      <Route
        element={
          <RequireAuth>
            <Layout />
          </RequireAuth>
        }
      >
        <Route index element={<HomePage />} />
        <Route path="pipelines/new" element={<EditorPage mode="new" />} />
        <Route path="pipelines/:id" element={<PipelinePage />} />
        <Route path="pipelines/:id/edit" element={<EditorPage mode="edit" />} />
        <Route path="pipelines/:id/versions/:number" element={<EditorPage mode="version" />} />
        <Route path="runs" element={<RunsPage />} />
        <Route path="runs/:id" element={<RunPage />} />
        <Route path="teams" element={<TeamList />} />
        <Route path="teams/:id" element={<TeamPage />} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </>,
  ),
);

export function App() {
  return <RouterProvider router={router} />;
}

function RequireAuth({ children }: { children: ReactNode }) {
  const session = useSession();
  const location = useLocation();
  if (session.status === "loading") return <p className="muted page-pad">Loading…</p>;
  if (session.status === "error" && !session.user) {
    return (
      <div className="page-pad">
        <ErrorMessage error={session.error} onRetry={() => void session.refresh()} />
      </div>
    );
  }
  if (!session.user) {
    const next = `${location.pathname}${location.search}`;
    return <Navigate to={`/login?next=${encodeURIComponent(next)}`} replace />;
  }
  return <>{children}</>;
}

function Layout() {
  const session = useSession();
  const navigate = useNavigate();
  const { pathname } = useLocation();
  const isPipelinesSection = pathname === "/" || pathname.startsWith("/pipelines/");
  const logout = async () => {
    try {
      await session.logout();
    } finally {
      navigate("/login", { replace: true });
    }
  };
  return (
    <div className="app">
      <header className="topbar">
        <Link to="/" className="brand">
          <span className="brand-mark" aria-hidden="true">
            ⋔
          </span>{" "}
          Trellis
        </Link>
        <nav className="topnav">
          <NavLink to="/" className={() => (isPipelinesSection ? "active" : "")}>
            Pipelines
          </NavLink>
          <NavLink to="/runs" end>
            Runs
          </NavLink>
          <NavLink to="/teams" data-testid="nav-teams">
            Teams
          </NavLink>
        </nav>
        <div className="topbar-user">
          <span data-testid="current-user">{session.user?.username}</span>
          <button type="button" className="link-button" onClick={logout} data-testid="logout">
            Sign out
          </button>
        </div>
      </header>
      <main className="content">
        <Suspense fallback={<p className="muted page-pad">Loading…</p>}>
          <Outlet />
        </Suspense>
      </main>
    </div>
  );
}

function HomePage() {
  return (
    <div className="page">
      <section>
        <div className="section-head">
          <h1>Pipelines</h1>
          <Link to="/pipelines/new" className="button-link" data-testid="new-pipeline">
            New pipeline
          </Link>
        </div>
        <PipelineList />
      </section>
      <section>
        <div className="section-head">
          <h2>Recent runs</h2>
          <Link to="/runs">All runs →</Link>
        </div>
        <RunList limit={10} />
      </section>
    </div>
  );
}

function RunsPage() {
  return (
    <div className="page">
      <h1>Runs</h1>
      <RunList limit={25} paginate />
    </div>
  );
}

function NotFound() {
  return (
    <div className="page">
      <h1>Not found</h1>
      <p>
        Nothing lives here. <Link to="/">Back to the pipelines.</Link>
      </p>
    </div>
  );
}
