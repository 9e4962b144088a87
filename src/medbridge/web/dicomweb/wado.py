"""WADO-RS routes (PS3.18)."""

from fastapi import APIRouter

__all__ = ["router"]

router = APIRouter(tags=["WADO-RS"])
