import { lazy, Suspense, type ReactNode } from "react";
import { BrowserRouter, Link, Navigate, NavLink, Outlet, Route, Routes, useLocation, useNavigate } from "react-router-dom";
import { LoginPage } from "./auth/LoginPage";
import { useSession } from "./auth/useSession";
import { PipelineList } from "./pipelines/PipelineList";
import { RunList } from "./runs/RunList";
import { ErrorMessage } from "./ui";

// The DAG pages carry React Flow; load them when first visited.
const PipelinePage = lazy(() => import("./pipelines/PipelinePage").then((m) => ({ default: m.PipelinePage })));
const RunPage = lazy(() => import("./runs/RunPage").then((m) => ({ default: m.RunPage })));

export function App() {
  return (
    <BrowserRouter>
      <Routes>
        <Route path="/login" element={<LoginPage />} />
        <Route
          element={
            <RequireAuth>
              <Layout />
            </RequireAuth>
          }
        >
          <Route index element={<HomePage />} />
          <Route path="pipelines/:id" element={<PipelinePage />} />
          <Route path="runs" element={<RunsPage />} />
          <Route path="runs/:id" element={<RunPage />} />
          <Route path="*" element={<NotFound />} />
        </Route>
      </Routes>
    </BrowserRouter>
  );
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
        <h1>Pipelines</h1>
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
