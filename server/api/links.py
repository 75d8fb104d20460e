"""Links of the OpenAPI document: which value of a reply feeds which call, so a client (and a
stateful fuzzer) can go from a listing to a notification, from a user to its tokens."""

from typing import Any


def _link(operation_id: str, **parameters: str) -> dict[str, Any]:
    return {"operationId": operation_id, "parameters": parameters}


def notification_links(id_at: str) -> dict[str, Any]:
    """What can be done with the notification whose id is at the JSON pointer `id_at` of the
    reply body."""
    notification_id = f"$response.body#{id_at}"
    return {
        "GetNotification": _link("get_notification", notification_id=notification_id),
        "MarkRead": _link("read_notification", notification_id=notification_id),
        "MarkUnread": _link("unread_notification", notification_id=notification_id),
        "Archive": _link("archive_notification", notification_id=notification_id),
        "Deliveries": _link("notification_deliveries", notification_id=notification_id),
    }


def replies_with(links: dict[str, Any], status: int = 200) -> dict[int | str, dict[str, Any]]:
    """A route's `responses` entry for its success reply, carrying `links`."""
    return {status: {"links": links}}


LIST_LINKS = notification_links("/notifications/0/id") | {
    "NextPage": _link("list_notifications", before="$response.body#/next_before"),
}
SYNC_LINKS = notification_links("/changes/0/id") | {
    "NextChanges": _link("sync", cursor="$response.body#/cursor"),
    "ReadAllSeen": {
        "operationId": "read_all",
        "requestBody": {"up_to": "$response.body#/cursor"},
    },
}
TOKEN_LINKS = {"RevokeToken": _link("revoke_token", token_id="$response.body#/token_id")}
USER_LINKS = TOKEN_LINKS | {
    "CreateToken": _link("create_token", user_id="$response.body#/user/user_id"),
    "InviteUser": _link("invite_user", user_id="$response.body#/user/user_id"),
    "EnableUser": _link("enable_user", user_id="$response.body#/user/user_id"),
}


def team_links(id_at: str) -> dict[str, Any]:
    """What can be done with the team whose id is at `id_at` of the reply body."""
    team_id = f"$response.body#{id_at}"
    return {
        "GetTeam": _link("get_team", team_id=team_id),
        "AddTeamMember": _link("add_team_member", team_id=team_id),
        "SubscribeTeam": _link("subscribe_team", team_id=team_id),
    }


TOPIC_LINKS = {
    "JoinTopic": _link("join_topic", topic="$response.body#/topic/topic"),
    "SubscribeTeamToTopic": _link("subscribe_team", topic="$response.body#/topic/topic"),
    "LeaveTopic": _link("leave_topic", topic="$response.body#/topic/topic"),
}


def delivery_links(id_at: str) -> dict[str, Any]:
    delivery_id = f"$response.body#{id_at}"
    return {
        "RetryDelivery": _link("retry_delivery", delivery_id=delivery_id),
        "DismissDelivery": _link("dismiss_delivery", delivery_id=delivery_id),
    }
