from django.urls import path
from . import views

urlpatterns = [
    path("auth/session/", views.SessionView.as_view(), name="auth-session"),
    path("auth/login/", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/token/", views.TokenView.as_view(), name="auth-token"),
    path("pipelines/", views.PipelinesRoute.as_view(), name="pipelines"),
    path("pipelines/validate/", views.PipelineValidateView.as_view(), name="pipeline-validate"),
    path("pipelines/<int:pk>/", views.PipelineDetailView.as_view(), name="pipeline-detail"),
    path("pipelines/<int:pk>/versions/", views.VersionsRoute.as_view(), name="pipeline-versions"),
    path("pipelines/<int:pk>/versions/<int:number>/", views.VersionDetailView.as_view(), name="version-detail"),
    path("runs/", views.RunsRoute.as_view(), name="runs"),
    path("runs/<int:pk>/", views.RunDetailView.as_view(), name="run-detail"),
    path("runs/<int:pk>/cancel/", views.RunCancelView.as_view(), name="run-cancel"),
    path("runs/<int:pk>/retry/", views.RunRetryView.as_view(), name="run-retry"),
    path("runs/<int:pk>/steps/<str:step>/log/", views.StepLogView.as_view(), name="step-log"),
    path("runs/<int:pk>/steps/<str:step>/attempts/", views.StepAttemptsView.as_view(), name="step-attempts"),
    path("runs/<int:pk>/artifacts/<str:step>/<str:output>/", views.ArtifactView.as_view(), name="run-artifact"),
]
