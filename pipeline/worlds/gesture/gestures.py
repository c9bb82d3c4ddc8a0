"""The 20 actions of MSR-Action3D as keyframed postures of the figure in figure.py.

A gesture is three runs of keyframes: `enter` takes the figure from standing to a ready
posture, one `cycle` goes from ready back to ready (played once per repetition, each with its
own tempo and amplitude), and `exit` returns to standing. Keyframes that `stop` are turning
points (the end of a punch); the others are passed through (the points of a circle).

Like the subjects of MSR-Action3D, the figure uses its right arm and leg for one-sided
actions. Several actions share postures on purpose and differ only in the order or direction
of motion, as in the real data: draw x, draw tick and draw circle trace strokes through the
same patch of air in front of the chest; high arm wave, two hand wave and hammer raise the
hand above the shoulder; forward and side kick lift the knee alike before they extend; forward
punch and side-boxing start from the same guard; pick up & throw ends with the high throw.

Hand targets are in arm reaches from the middle of the shoulder line in the chest frame, x
outwards (see `Posture`); `sh(x, y, z)` writes one relative to the hand's own shoulder.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from c2p4d.pipeline.worlds.gesture.figure import Posture

MSR_ACTIONS = (
    "high arm wave", "horizontal arm wave", "hammer", "hand catch", "forward punch",
    "high throw", "draw x", "draw tick", "draw circle", "hand clap", "two hand wave",
    "side-boxing", "bend", "forward kick", "side kick", "jogging", "tennis swing",
    "tennis serve", "golf swing", "pick up & throw",
)  # fmt: skip  # a01..a20, named as in the MSR-Action3D release
STAND = Posture()


@dataclass(frozen=True)
class Key:
    """A posture reached `seconds` after the previous keyframe."""

    seconds: float
    posture: Posture
    stop: bool = True


@dataclass(frozen=True)
class Gesture:
    name: str
    ready: Posture
    enter: tuple[Key, ...]  # from STAND; the last one is `ready`
    cycle: tuple[Key, ...]  # from ready; the last one is `ready`
    exit: tuple[Key, ...]  # from ready; the last one is STAND
    max_repetitions: int


def build_gestures(shoulder: float) -> tuple[Gesture, ...]:
    """Every MSR action for a figure whose shoulders sit `shoulder` reaches from its midline.

    The shoulder matters where hands meet (a clap, a golf grip) and where they go relative to
    their own shoulder.
    """

    def sh(x: float, y: float, z: float) -> np.ndarray:
        return np.array([shoulder + x, y, z])

    def arms(
        right: np.ndarray | None = None,
        left: np.ndarray | None = None,
        right_elbow: tuple[float, float, float] | None = None,
        left_elbow: tuple[float, float, float] | None = None,
        base: Posture = STAND,
        **changes: object,
    ) -> Posture:
        hands, elbows = base.hands.copy(), base.elbows.copy()
        for s, (hand, elbow) in enumerate(((right, right_elbow), (left, left_elbow))):
            if hand is not None:
                hands[s] = hand
            if elbow is not None:
                elbows[s] = elbow
        values = {k: np.array(v, float) for k, v in changes.items()}
        return replace(base, hands=hands, elbows=elbows, **values)

    def hanging(bend: float, side: float, reach: float = 0.95) -> np.ndarray:
        """A hand hanging straight down from its shoulder when the trunk bends by `bend`."""
        return sh(side, 0.0, 0.0) + reach * np.array([0.0, np.sin(bend), -np.cos(bend)])

    out = (0.9, -0.2, -0.6)  # elbow out to the side
    down = (0.3, 0.0, -1.0)  # elbow down, under the hand
    back = (0.2, -1.0, -0.2)  # elbow back, as when jogging
    g: list[Gesture] = []

    def add(name, ready, enter, cycle, exit_, reps=3):
        g.append(Gesture(name, ready, tuple(enter), tuple(cycle), tuple(exit_), reps))

    def there_and_back(ready, seconds=0.6, via=None):
        """Enter and exit keys between standing and `ready`, through `via` if given."""
        if via is None:
            return [Key(seconds, ready)], [Key(seconds, STAND)]
        half = seconds / 2
        return [Key(half, via, False), Key(half, ready)], [Key(half, via, False), Key(half, STAND)]

    # a01 high arm wave: the right hand up above the head, swung from side to side
    ready = arms(sh(0.18, 0.12, 0.86), right_elbow=out)
    up = arms(sh(0.55, 0.35, 0.1), right_elbow=(1, -0.3, -0.5))
    enter, exit_ = there_and_back(ready, 0.75, up)
    add("high arm wave", ready, enter,
        [Key(0.2, arms(sh(0.44, 0.12, 0.7), right_elbow=out)),
         Key(0.38, arms(sh(-0.12, 0.12, 0.84), right_elbow=out)),
         Key(0.2, ready, False)], exit_)  # fmt: skip

    # a02 horizontal arm wave: the arm held forward, swept left and right at shoulder height
    ready = arms(sh(0.05, 0.88, 0.02), right_elbow=down)
    enter, exit_ = there_and_back(ready, 0.65, arms(sh(0.2, 0.5, -0.55), right_elbow=down))
    add("horizontal arm wave", ready, enter,
        [Key(0.25, arms(sh(0.55, 0.68, 0.02), right_elbow=down)),
         Key(0.45, arms(sh(-0.5, 0.72, 0.02), right_elbow=down)),
         Key(0.25, ready, False)], exit_)  # fmt: skip

    # a03 hammer: the fist raised above the shoulder, struck down in front, raised again
    ready = arms(sh(0.08, 0.22, 0.72), right_elbow=(0.4, 0.2, -1))
    enter, exit_ = there_and_back(ready, 0.6)
    add("hammer", ready, enter,
        [Key(0.22, arms(sh(0.02, 0.78, -0.3), right_elbow=down, spine=(0.15, 0, 0.05))),
         Key(0.5, ready)], exit_)  # fmt: skip

    # a04 hand catch: a quick reach up and out, a hold, the catch brought to the chest
    catch = arms(sh(0.35, 0.66, 0.45), right_elbow=out, head=(-0.2, -0.15))
    held = arms(sh(-0.25, 0.35, -0.3), right_elbow=down)
    steps = [Key(0.32, catch), Key(0.15, catch), Key(0.35, held), Key(0.35, STAND)]
    add("hand catch", STAND, [], steps, [], reps=2)

    # a05 forward punch and a12 side-boxing: from a guard, the right fist punches out
    guard = arms(sh(-0.12, 0.32, 0.12), sh(-0.12, 0.32, 0.12), down, down)
    enter, exit_ = there_and_back(guard, 0.5)
    add("forward punch", guard, enter,
        [Key(0.2, arms(sh(-0.08, 0.97, 0.05), right_elbow=down, base=guard, spine=(0.05, 0, 0.3))),
         Key(0.45, guard)], exit_)  # fmt: skip
    punch_side = arms(sh(0.95, 0.15, 0.05), right_elbow=down, base=guard, spine=(0, -0.1, -0.2))
    add("side-boxing", guard, enter, [Key(0.22, punch_side), Key(0.5, guard)], exit_)

    # a06 high throw: the arm cocked behind the head, thrown forwards and up, followed through
    cocked = arms(sh(0.25, -0.3, 0.55), right_elbow=(1, -0.2, -0.4), spine=(-0.1, 0, -0.3))
    throw = (
        Key(0.45, cocked),
        Key(0.22, arms(sh(0.05, 0.75, 0.6), right_elbow=down, spine=(0.05, 0, 0.15)), False),
        Key(0.22, arms(sh(-0.35, 0.55, -0.45), right_elbow=down, spine=(0.2, 0, 0.3))),
        Key(0.6, STAND),
    )
    add("high throw", STAND, [], throw, [], reps=2)

    # a07 draw x, a08 draw tick, a09 draw circle: strokes through one patch in front of the chest
    centre, q = sh(-0.1, 0.62, -0.05), 0.3
    pen = (0.6, -0.3, -1.0)

    def at(x: float, z: float, lift: float = 0.0) -> Posture:
        return arms(centre + np.array([x * q, -lift, z * q]), right_elbow=pen)

    corner = at(-1, 1)
    enter, exit_ = there_and_back(corner, 0.6)
    add("draw x", corner, enter,
        [Key(0.45, at(1, -1)), Key(0.3, at(1, 0, 0.1), False), Key(0.25, at(1, 1)),
         Key(0.45, at(-1, -1)), Key(0.3, at(-1, 0, 0.1), False), Key(0.25, corner)],
        exit_)  # fmt: skip
    tick = at(-1, 0.1)
    enter, exit_ = there_and_back(tick, 0.6)
    add("draw tick", tick, enter,
        [Key(0.35, at(-0.35, -1)), Key(0.5, at(1, 1)), Key(0.3, at(0, 0.6, 0.1), False),
         Key(0.3, tick)], exit_)  # fmt: skip
    top = at(0, 1)
    enter, exit_ = there_and_back(top, 0.6)
    angles = np.linspace(0, 2 * np.pi, 9)[1:-1]  # clockwise as the figure sees it
    around = [Key(0.17, at(np.sin(a), np.cos(a)), False) for a in angles]
    add("draw circle", top, enter, [*around, Key(0.17, top, False)], exit_)

    # a10 hand clap: both hands in front of the chest, brought together and apart
    apart = arms([0.18, 0.55, -0.2], [0.18, 0.55, -0.2], out, out)
    enter, exit_ = there_and_back(apart, 0.5)
    together = arms([0.035, 0.58, -0.18], [0.035, 0.58, -0.18], out, out)
    add("hand clap", apart, enter, [Key(0.18, together), Key(0.25, apart)], exit_)

    # a11 two hand wave: both arms up, waving out and in together
    ready = arms(sh(0.22, 0.1, 0.85), sh(0.22, 0.1, 0.85), out, out)
    up = arms(sh(0.6, 0.3, 0.1), sh(0.6, 0.3, 0.1), out, out)
    enter, exit_ = there_and_back(ready, 0.75, up)
    add("two hand wave", ready, enter,
        [Key(0.22, arms(sh(0.5, 0.1, 0.72), sh(0.5, 0.1, 0.72), out, out)),
         Key(0.4, arms(sh(-0.05, 0.1, 0.88), sh(-0.05, 0.1, 0.88), out, out)),
         Key(0.22, ready, False)], exit_)  # fmt: skip

    # a13 bend: a bow from the hips with the arms hanging, and back up
    bent = arms(hanging(1.45, 0.08), hanging(1.45, 0.08), spine=(1.45, 0, 0),
                pelvis=(0, -0.07, -0.015), head=(-0.5, 0))  # fmt: skip
    add("bend", STAND, [], [Key(0.8, bent), Key(0.3, bent), Key(0.8, STAND)], [], reps=2)

    # a14 forward kick and a15 side kick: the same knee lift, extended forwards or sideways
    balance = arms(sh(0.22, 0.15, -0.72), sh(0.22, 0.15, -0.72), out, out)
    chamber = replace(balance, feet=np.array([[0, 0.1, 0.22], [0, 0, 0]]),
                      toes=np.array([0.3, 0]), spine=np.array([-0.05, 0, 0]))  # fmt: skip
    enter, exit_ = there_and_back(balance, 0.4)
    front = replace(chamber, feet=np.array([[0, 0.42, 0.38], [0, 0, 0]]),
                    toes=np.array([0.6, 0]), spine=np.array([-0.2, 0, 0]))  # fmt: skip
    add("forward kick", balance, enter,
        [Key(0.35, chamber), Key(0.25, front), Key(0.25, chamber), Key(0.4, balance)],
        exit_, reps=2)  # fmt: skip
    side = replace(chamber, feet=np.array([[0.34, 0.05, 0.3], [0, 0, 0]]),
                   toes=np.array([0.2, 0]), spine=np.array([0, -0.35, 0]))  # fmt: skip
    add("side kick", balance, enter,
        [Key(0.35, chamber), Key(0.25, side), Key(0.25, chamber), Key(0.4, balance)],
        exit_, reps=2)  # fmt: skip

    # a16 jogging: in place, knees lifted in turn, bent arms swinging against the legs
    ready = arms(sh(0.08, 0.3, -0.5), sh(0.08, 0.3, -0.5), back, back, pelvis=(0, 0, -0.02))
    enter, exit_ = there_and_back(ready, 0.4)

    def stride(s: int) -> Posture:
        feet, hands = np.zeros((2, 3)), np.array([sh(0.08, 0.05, -0.55)] * 2)
        feet[s] = (0, -0.03, 0.16)
        hands[1 - s] = sh(0.08, 0.48, -0.33)
        return replace(ready, feet=feet, hands=hands, pelvis=np.array([0, 0, -0.008]))

    landed = replace(ready, pelvis=np.array([0, 0, -0.03]))
    steps = [Key(0.2, stride(0), False), Key(0.2, landed, False), Key(0.2, stride(1), False)]
    add("jogging", ready, enter, [*steps, Key(0.2, ready, False)], exit_)

    # a17 tennis swing: a forehand, the trunk turning from right to left with the arm
    ready = arms(sh(0.25, 0.35, -0.5), sh(-0.05, 0.35, -0.45), down, down,
                 spine=(0.15, 0, 0), pelvis=(0, 0, -0.02))  # fmt: skip
    enter, exit_ = there_and_back(ready, 0.5)
    add("tennis swing", ready, enter,
        [Key(0.5, arms(sh(0.45, -0.25, -0.35), sh(-0.1, 0.45, -0.35), (0.5, -0.5, -1), down,
                       base=ready, spine=(0.15, 0, -0.6))),
         Key(0.3, arms(sh(0.35, 0.75, -0.3), base=ready, spine=(0.1, 0, 0)), False),
         Key(0.2, arms(sh(-0.65, 0.55, 0.25), sh(0.1, 0.2, -0.6), out, base=ready,
                       spine=(0.05, 0, 0.6))),
         Key(0.6, ready)], exit_, reps=2)  # fmt: skip

    # a18 tennis serve: toss with the left hand, racket behind the head, hit up and over
    ready = arms(sh(0.1, 0.3, -0.55), sh(0.0, 0.4, -0.5), down, down, spine=(0, 0, -0.3))
    enter, exit_ = there_and_back(ready, 0.5)
    add("tennis serve", ready, enter,
        [Key(0.6, arms(sh(0.3, -0.25, 0.45), sh(0.1, 0.3, 0.9), (1, -0.3, -0.3), out,
                       spine=(-0.2, 0, -0.3))),
         Key(0.35, arms(sh(0.1, 0.35, 0.95), sh(-0.1, 0.35, -0.2), out, down,
                        spine=(0.1, 0, 0.1)), False),
         Key(0.3, arms(sh(-0.55, 0.35, -0.65), sh(0.1, 0.2, -0.7), down, down,
                       spine=(0.35, 0, 0.3))),
         Key(0.75, ready)], exit_, reps=2)  # fmt: skip

    # a19 golf swing: both hands on one grip, swung back over the right shoulder and through
    def grip(x: float, y: float, z: float, bend: float, twist: float) -> Posture:
        """Both hands at one point (the right a little lower), x from the midline to the
        figure's right."""
        return arms([x, y, z - 0.03], [-x + 0.07, y, z + 0.03], (0.3, -0.5, -1), (0.3, -0.5, -1),
                    spine=(bend, 0, twist), pelvis=(0, -0.03, -0.02))  # fmt: skip

    ready = grip(0.0, 0.5, -0.78, 0.45, 0.0)
    enter, exit_ = there_and_back(ready, 0.6)
    add("golf swing", ready, enter,
        [Key(0.8, grip(0.55, 0.2, 0.2, 0.35, -0.8)),
         Key(0.25, grip(0.02, 0.5, -0.78, 0.45, -0.1), False),
         Key(0.25, grip(-0.5, 0.25, 0.25, 0.2, 0.8)),
         Key(0.9, ready)], exit_, reps=2)  # fmt: skip

    # a20 pick up & throw: a crouching bend to the floor, a grab, and the high throw
    crouch = arms(hanging(0.9, 0.0, 1.05), sh(0.05, 0.3, -0.75), spine=(0.9, 0, 0),
                  pelvis=(0, -0.07, -0.13), head=(-0.3, 0))  # fmt: skip
    steps = [Key(0.8, crouch), Key(0.3, crouch), Key(0.6, cocked), *throw[1:]]
    add("pick up & throw", STAND, [], steps, [], reps=1)

    gestures = tuple(g)
    by_name = {x.name: x for x in gestures}
    return tuple(by_name[name] for name in MSR_ACTIONS)
