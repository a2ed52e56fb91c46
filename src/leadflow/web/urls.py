"""Web routes."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from .views import accounts, analytics, home, leads, pipeline, scoring, settings

app_name = "web"

urlpatterns = [
    path(
        "login/",
        auth_views.LoginView.as_view(template_name="web/login.html", redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(next_page="web:login"), name="logout"),
    path("", home.my_day, name="my_day"),
    path("quick-log/", home.quick_log, name="quick_log"),
    path("tasks/<int:activity_id>/done/", home.task_done, name="task_done"),
    path("search/", home.search, name="search"),
    path("leads/", leads.lead_list, name="leads"),
    path("leads/new/", leads.lead_new, name="lead_new"),
    path("leads/export.csv", leads.lead_export, name="lead_export"),
    path("leads/bulk/", leads.lead_bulk, name="lead_bulk"),
    path("leads/<int:lead_id>/", leads.lead_detail, name="lead"),
    path("leads/<int:lead_id>/transition/", leads.lead_transition, name="lead_transition"),
    path("leads/<int:lead_id>/bant/", leads.lead_bant, name="lead_bant"),
    path("leads/<int:lead_id>/convert/", leads.lead_convert, name="lead_convert"),
    path("leads/<int:lead_id>/activities/", leads.lead_activity, name="lead_activity"),
    path("pipeline/", pipeline.board, name="board"),
    path("opportunities/<int:opportunity_id>/", pipeline.opportunity_detail, name="opportunity"),
    path("opportunities/<int:opportunity_id>/move/", pipeline.opportunity_move, name="opportunity_move"),
    path("opportunities/<int:opportunity_id>/close/", pipeline.opportunity_close, name="opportunity_close"),
    path("opportunities/<int:opportunity_id>/reopen/", pipeline.opportunity_reopen, name="opportunity_reopen"),
    path("opportunities/<int:opportunity_id>/note/", pipeline.opportunity_note, name="opportunity_note"),
    path("opportunities/<int:opportunity_id>/activities/", pipeline.opportunity_activity, name="opportunity_activity"),
    path("analytics/", analytics.dashboard, name="analytics"),
    path("analytics/backtest/", analytics.backtest, name="analytics_backtest"),
    path("accounts/", accounts.accounts, name="accounts"),
    path("accounts/<int:account_id>/", accounts.account_detail, name="account"),
    path("contacts/", accounts.contacts, name="contacts"),
    path("contacts/<int:contact_id>/", accounts.contact_detail, name="contact"),
    path("settings/", settings.settings_page, name="settings"),
    path("settings/pipelines/", settings.pipeline_add, name="pipeline_add"),
    path("settings/pipelines/<int:pipeline_id>/stages/", settings.stage_add, name="stage_add"),
    path("settings/stages/<int:stage_id>/", settings.stage_update, name="stage_update"),
    path("settings/stages/<int:stage_id>/move/", settings.stage_move, name="stage_move"),
    path("settings/stages/<int:stage_id>/delete/", settings.stage_delete, name="stage_delete"),
    path("settings/lost-reasons/", settings.lost_reason_add, name="lost_reason_add"),
    path("settings/lost-reasons/<int:reason_id>/toggle/", settings.lost_reason_toggle, name="lost_reason_toggle"),
    path("settings/users/", settings.user_add, name="user_add"),
    path("settings/users/<int:user_id>/", settings.user_update, name="user_update"),
    path("settings/teams/", settings.team_add, name="team_add"),
    path("scoring/", scoring.scoring_page, name="scoring"),
    path("scoring/rules/fit/", scoring.rule_add, {"kind": "fit"}, name="scoring_fit_rule_add"),
    path("scoring/rules/engagement/", scoring.rule_add, {"kind": "engagement"}, name="scoring_engagement_rule_add"),
    path("scoring/rules/<int:rule_id>/toggle/", scoring.rule_toggle, name="scoring_rule_toggle"),
    path("scoring/rules/<int:rule_id>/delete/", scoring.rule_delete, name="scoring_rule_delete"),
    path("scoring/threshold/", scoring.threshold_set, name="scoring_threshold"),
    path("scoring/rescore/", scoring.rescore, name="scoring_rescore"),
    path("scoring/rescore/progress/", scoring.rescore_progress, name="scoring_rescore_progress"),
    path("imports/", include("leadflow.imports.urls")),
]
