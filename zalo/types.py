"""What the Zalo client returns: Pydantic models over Zalo's JSON.

Zalo sends ids and many numbers as strings, sometimes as numbers, and now and then an empty
string for "none"; the models accept all of these and drop fields they do not know.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AliasChoices, BaseModel, BeforeValidator, ConfigDict, Field


def _blank_to_none(value: Any) -> Any:
    return None if value == "" else value


OptInt = Annotated[int | None, BeforeValidator(_blank_to_none)]
OptFloat = Annotated[float | None, BeforeValidator(_blank_to_none)]


class ZaloModel(BaseModel):
    model_config = ConfigDict(extra="ignore", coerce_numbers_to_str=True, validate_by_name=True)


class TokenPair(ZaloModel):
    """An OA token pair; ``refresh_token`` is None when Zalo sent none (keep the old one)."""

    access_token: str
    refresh_token: str | None = None
    expires_in: OptInt = None
    refresh_token_expires_in: OptInt = None


class OaInfo(ZaloModel):
    oa_id: str = Field(validation_alias=AliasChoices("oa_id", "oaid"))
    name: str = ""
    description: str | None = None
    oa_alias: str | None = None
    is_verified: bool | None = None
    oa_type: OptInt = None
    cate_name: str | None = None
    num_follower: OptInt = None
    avatar: str | None = None
    cover: str | None = None
    package_name: str | None = None
    package_valid_through_date: str | None = None
    package_auto_renew_date: str | None = None
    linked_zca: str | None = Field(default=None, alias="linked_ZCA")


class FollowerRef(ZaloModel):
    user_id: str


class FollowerPage(ZaloModel):
    total: int = 0
    count: int = 0
    offset: int = 0
    users: list[FollowerRef] = []

    @property
    def user_ids(self) -> list[str]:
        return [user.user_id for user in self.users]


class TagsAndNotes(ZaloModel):
    tag_names: list[str] = []
    notes: list[str] = []


class SharedInfo(ZaloModel):
    name: str | None = None
    phone: str | None = None
    address: str | None = None
    city: str | None = None
    district: str | None = None


class UserDetail(ZaloModel):
    user_id: str
    user_id_by_app: str | None = None
    user_external_id: str | None = None
    display_name: str = ""
    user_alias: str | None = None
    is_sensitive: bool | None = None
    user_last_interaction_date: str | None = None
    user_is_follower: bool | None = None
    avatar: str | None = None
    avatars: dict[str, str] = {}
    dynamic_param: str | None = None
    tags_and_notes_info: TagsAndNotes = TagsAndNotes()
    shared_info: SharedInfo | None = None


class ChatMessage(ZaloModel):
    """One row of ``listrecentchat`` / ``conversation``; ``src`` 1 = from the user."""

    message_id: str = Field(validation_alias=AliasChoices("message_id", "msg_id"))
    src: int
    time: int
    type: str
    message: str | None = None
    from_id: str | None = None
    to_id: str | None = None
    from_display_name: str | None = None
    from_avatar: str | None = None
    to_display_name: str | None = None
    to_avatar: str | None = None
    url: str | None = None
    thumb: str | None = None
    description: str | None = None

    @property
    def from_user(self) -> bool:
        return self.src == 1


class SendQuota(ZaloModel):
    quota_type: str | None = None
    remain: OptInt = None
    total: OptInt = None


class SentMessage(ZaloModel):
    message_id: str
    user_id: str | None = None
    sent_time: OptInt = None
    quota: SendQuota | None = None


class Attachment(ZaloModel):
    """An uploaded image or gif, to send by ``attachment_id``."""

    attachment_id: str


class FileToken(ZaloModel):
    """An uploaded file, to send by ``token``."""

    token: str


class TemplateSummary(ZaloModel):
    template_id: str = Field(alias="templateId")
    template_name: str = Field(default="", alias="templateName")
    created_time: OptInt = Field(default=None, alias="createdTime")
    status: str = ""
    template_quality: str | None = Field(default=None, alias="templateQuality")


class TemplatePage(ZaloModel):
    templates: list[TemplateSummary]
    total: int


class TemplateParam(ZaloModel):
    name: str
    require: bool = False
    type: str = "STRING"
    max_length: OptInt = Field(default=None, alias="maxLength")
    min_length: OptInt = Field(default=None, alias="minLength")
    accept_null: bool | None = Field(default=None, alias="acceptNull")


class TemplateButton(ZaloModel):
    type: OptInt = None
    title: str = ""
    content: str = ""


class TemplateDetail(ZaloModel):
    template_id: str = Field(alias="templateId")
    template_name: str = Field(default="", alias="templateName")
    status: str = ""
    params: list[TemplateParam] = Field(default=[], alias="listParams")
    buttons: list[TemplateButton] = Field(default=[], alias="listButtons")
    timeout: OptInt = None
    preview_url: str | None = Field(default=None, alias="previewUrl")
    price: OptFloat = None
    template_quality: str | None = Field(default=None, alias="templateQuality")
    template_tag: str | None = Field(default=None, alias="templateTag")
    apply_template_quota: bool | None = Field(default=None, alias="applyTemplateQuota")
    template_daily_quota: OptInt = Field(default=None, alias="templateDailyQuota")
    template_remaining_quota: OptInt = Field(default=None, alias="templateRemainingQuota")


class ZnsQuota(ZaloModel):
    daily_quota: OptInt = Field(default=None, alias="dailyQuota")
    remaining_quota: OptInt = Field(default=None, alias="remainingQuota")
    daily_quota_promotion: OptInt = Field(default=None, alias="dailyQuotaPromotion")
    remaining_quota_promotion: OptInt = Field(default=None, alias="remainingQuotaPromotion")


class ZnsSent(ZaloModel):
    msg_id: str
    sent_time: OptInt = None
    sending_mode: str | None = None
    quota: ZnsQuota | None = None


class ZnsMessageStatus(ZaloModel):
    """``status`` 1 = delivered to the phone, 0 = not yet, -1 = failed."""

    status: int
    delivery_time: OptInt = None
    message: str | None = None
